"""Reb-SupCon: Rebalancing Supervised Contrastive Learning (Lv et al. 2025) as a ``keras.Model``.

No code was released with the paper; this follows its §3.3-3.4 and §4.2, and
every ambiguity is an option (see the README's Reb-SupCon section).

One training step (``model.fit`` on torch, TensorFlow and JAX):

1. ``call`` on ``(query_view, key_view)``: first the key encoder (backbone +
   MLP G, a copy of the query's) moves towards the query encoder,
   ``theta_k <- m theta_k + (1 - m) theta_q`` (MoCo; m = 0.999) -- before the keys
   are computed, as MoCo does. The query view (strong augmentation) gives the
   anchors ``z_q = G(F(x))`` (L2-normalised) and the classifier's logits; the key
   view (weak augmentation) gives the keys ``z_k`` with the key encoder, its
   BatchNorm on batch statistics, without gradient. MoCo's shuffle-BN is not
   done: it shuffles the keys across GPUs so that no key shares per-GPU BatchNorm
   statistics with its own query; on one device one BatchNorm sees the whole key
   batch, whose statistics do not depend on its order, so shuffling changes
   nothing. It matters only with per-replica BatchNorm on several devices;
2. ``compute_loss``: ``L = L_reb + L_proto + L_cls``:
   * L_reb (§3.3.1): supervised contrast of each anchor against the batch keys and
     the labelled key queue, weighted per class by the rebalancing factor omega
     (:func:`~keras_lt.losses.rebalance.rebalancing_factor`), computed from the
     running per-class mean of the per-sample gradient norms (closed form, w.r.t. the
     anchor embedding) and the class frequencies;
   * L_proto (§3.3.2): Sinkhorn codes of both branches against K trainable
     prototypes; swapped prediction, aggregation and separation losses, weighted
     (lambda_agg, lambda_sep, lambda_swap) = (0.5, 0.3, 0.2) by their roles in §4.5
     (``proto_weights="role"``) or (swap, agg, sep) = (0.5, 0.3, 0.2) by the order
     of §4.2 (``"order"``);
   * L_cls: the paper does not say how its linear classifier is trained in the
     single stage. Assumption: jointly, on the query features, with the
     logit-adjusted loss (``classifier_loss``; optionally with a stop-gradient into
     the encoder, ``classifier_stop_gradient``);
3. then the keys and their labels enter the FIFO queue (through
   :meth:`RebSupCon.gather_keys`, the one hook a multi-replica run overrides to
   all-gather), the per-class gradient statistics are updated.

The key encoder, queue, gradient statistics and prototypes are model variables:
saved in checkpoints, restored on resume, loadable on any backend.
"""

import dataclasses

import keras
from keras import ops

from keras_lt.backbones import get_backbone
from keras_lt.layers import ProjectionHead
from keras_lt.losses.classification import (
    cross_entropy, log_class_prior, logit_adjusted_cross_entropy)
from keras_lt.losses.prototypes import (
    aggregation_loss, prototype_scores, separation_loss, sinkhorn, swapped_prediction_loss)
from keras_lt.losses.rebalance import (
    class_frequency_weight, rebalanced_supcon_loss, rebalanced_supcon_terms, rebalancing_factor)
from keras_lt.models.classifier import LTClassifier, arch_kwargs, l2_penalty, resolve_class_counts
from keras_lt.models.registry import Method, register_method
from keras_lt.options import PROTO_WEIGHTS, RebSupConOptions

__all__ = ["RebSupCon", "PROTO_WEIGHTS"]

@keras.saving.register_keras_serializable(package="keras_lt")
class RebSupCon(LTClassifier):
    """Reb-SupCon training model; ``model(images)`` returns the classifier's logits.

    Args (beyond :class:`~keras_lt.models.LTClassifier`'s):
        class_counts: training images per class (frequencies, logit adjustment).
        **options: the fields of :class:`~keras_lt.options.RebSupConOptions` (their
            defaults and meaning live there: ``feat_dim``, ``queue_size``, ``momentum`` m,
            ``temperature``, ``alpha``/``beta``/``eps`` of the rebalancing factor,
            ``num_prototypes`` K, the Sinkhorn settings, ``proto_weights``, the
            classifier's loss, the Table 6 switches); each is also an attribute of the
            model. ``proto_temperature=None`` is stored as ``temperature``.

    >>> model = RebSupCon("resnet20", num_classes=4, class_counts=[40, 20, 8, 4],
    ...                   input_shape=(16, 16, 3), queue_size=64)   # doctest: +SKIP
    >>> model.options.sinkhorn_iters                                  # doctest: +SKIP
    3
    """

    def __init__(self, backbone="resnet32", num_classes=10, class_counts=None,
                 backbone_kwargs=None, classifier="linear", classifier_scale=None,
                 input_shape=(32, 32, 3), weight_decay=0.0, **kwargs):
        options, kwargs = RebSupConOptions.take(kwargs)
        if options.proto_temperature is None:
            options = dataclasses.replace(options, proto_temperature=options.temperature)
        super().__init__(backbone=backbone, num_classes=num_classes,
                         backbone_kwargs=backbone_kwargs, classifier=classifier,
                         classifier_scale=classifier_scale, input_shape=input_shape,
                         weight_decay=weight_decay, **kwargs)
        self.options = options
        for name, value in options.as_dict().items():
            setattr(self, name, value)
        self.class_counts = resolve_class_counts(class_counts, self.num_classes)
        self._log_prior = log_class_prior(self.class_counts).astype("float32")
        self._freq_weight = class_frequency_weight(self.class_counts, self.beta, self.eps)

        self.head = ProjectionHead(self.head_hidden, self.feat_dim, name="head")
        self.key_backbone = get_backbone(backbone, input_shape=self.image_shape,
                                         **self.backbone_kwargs)
        self.key_head = ProjectionHead(self.head_hidden, self.feat_dim, name="key_head")
        self.prototypes = self.add_weight(
            shape=(self.num_prototypes, self.feat_dim), name="prototypes",
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=7))
        self.queue_keys = self.add_weight(shape=(self.queue_size, self.feat_dim),
                                          initializer="zeros", trainable=False, name="queue_keys")
        self.queue_labels = self.add_weight(shape=(self.queue_size,), dtype="int32",
                                            initializer=keras.initializers.Constant(-1),
                                            trainable=False, name="queue_labels")
        self.queue_ptr = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                         trainable=False, name="queue_ptr")
        self.grad_norm = self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                         trainable=False, name="grad_norm")
        self.grad_seen = self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                         trainable=False, name="grad_seen")
        self._pairs = []

    def build(self, input_shape=None):
        super().build(input_shape)
        feats = self.backbone.output_shape
        self.head.build(feats)
        self.key_head.build(feats)
        # the key encoder starts as a copy of the query encoder; its variables are
        # updated by the EMA only (trainable=False per variable: BatchNorm stays in
        # training mode, using batch statistics)
        self._pairs = []
        for k, q in self._key_query_variables():
            k.trainable = False
            if q.trainable:
                self._pairs.append((k, q))
        self.sync_key_encoder()

    def _key_query_variables(self):
        """(key variable, query variable) pairs of backbone + head, in order."""
        query = self.backbone.weights + self.head.weights
        key = self.key_backbone.weights + self.key_head.weights
        if len(query) != len(key):
            raise AssertionError("key and query encoders differ in structure")
        return list(zip(key, query))

    def sync_key_encoder(self):
        """Set the key encoder to a copy of the query encoder (MoCo's start; also after
        the query encoder is loaded from a pretrained model)."""
        for k, q in self._key_query_variables():
            k.assign(ops.copy(q))

    def momentum_update(self):
        """``theta_k <- m theta_k + (1 - m) theta_q`` over the trainable parameters
        (MoCo; BatchNorm statistics of the key encoder are its own)."""
        m = self.momentum
        for k, q in self._pairs:
            k.assign(m * ops.convert_to_tensor(k) + (1.0 - m) * ops.stop_gradient(ops.copy(q)))

    def call(self, images, training=False):
        """Logits of a batch; with ``(query_view, key_view)``: a dict with ``z_q``,
        ``z_k`` (B, D) and ``logits`` (B, C) of the query view."""
        if not isinstance(images, (tuple, list)):
            return super().call(images, training=training)
        if len(images) != 2:
            raise ValueError(f"RebSupCon takes (query_view, key_view), got {len(images)} views")
        if training:
            self.momentum_update()
        feats = self.features(images[0], training=training)
        z_q = self.head(feats, training=training)
        cls_in = ops.stop_gradient(feats) if self.classifier_stop_gradient else feats
        k_feats = self.key_backbone(images[1], training=True)
        z_k = ops.stop_gradient(self.key_head(k_feats, training=True))
        # float32 under a mixed-precision policy too: queue, Sinkhorn and losses stay float32
        return {"z_q": ops.cast(z_q, "float32"), "z_k": ops.cast(z_k, "float32"),
                "logits": ops.cast(self.classifier(cls_in), "float32")}

    # -- state updates ------------------------------------------------------
    def gather_keys(self, keys, labels):
        """The keys and labels to enqueue. One replica: as they are. A data-parallel
        run overrides this to all-gather them across replicas (MoCo's
        ``concat_all_gather``), the only cross-replica step of the method."""
        return keys, labels

    def enqueue(self, keys, labels):
        """FIFO write of (N, D) keys and (N,) labels at the queue pointer (N <= size)."""
        keys, labels = self.gather_keys(keys, labels)
        n = ops.shape(labels)[0]
        ptr = ops.convert_to_tensor(self.queue_ptr)
        idx = ops.mod(ptr + ops.arange(n, dtype="int32"), self.queue_size)[:, None]
        self.queue_keys.assign(ops.scatter_update(ops.copy(self.queue_keys), idx,
                                                  ops.cast(keys, self.queue_keys.dtype)))
        self.queue_labels.assign(ops.scatter_update(ops.copy(self.queue_labels), idx,
                                                    ops.cast(labels, "int32")))
        self.queue_ptr.assign(ops.mod(ptr + n, self.queue_size))

    def update_grad_stats(self, labels, grad_norm, has_positive):
        """Running per-class mean of the per-sample gradient norms (EMA over steps;
        a class's first batch sets it)."""
        onehot = ops.one_hot(labels, self.num_classes, dtype="float32") * ops.cast(
            has_positive, "float32")[:, None]
        n = ops.sum(onehot, axis=0)
        batch_mean = ops.einsum("bc,b->c", onehot, ops.cast(grad_norm, "float32")) / ops.maximum(n, 1.0)
        old, seen = ops.convert_to_tensor(self.grad_norm), ops.convert_to_tensor(self.grad_seen)
        m = self.grad_momentum
        blended = ops.where(seen > 0, m * old + (1.0 - m) * batch_mean, batch_mean)
        present = n > 0
        self.grad_norm.assign(ops.where(present, blended, old))
        self.grad_seen.assign(ops.where(present, ops.ones_like(seen), seen))

    def class_weights(self):
        """omega(c) (C,) from the current statistics (1 where rebalancing is off)."""
        if not self.use_rebalance:
            return ops.ones((self.num_classes,), "float32")
        return rebalancing_factor(self.grad_norm, self._freq_weight, self.alpha, self.rebalance)

    # -- the loss -----------------------------------------------------------
    def classification_loss(self, labels, logits):
        if self.classifier_loss == "logit_adjusted":
            return logit_adjusted_cross_entropy(labels, logits, self._log_prior, 1.0)
        return cross_entropy(labels, logits)

    def prototype_loss(self, z_q, z_k):
        """L_proto = weighted swapped prediction + aggregation + separation (§3.3.2)."""
        s_q = prototype_scores(z_q, self.prototypes)
        s_k = prototype_scores(z_k, self.prototypes)
        q_q = sinkhorn(s_q, self.sinkhorn_epsilon, self.sinkhorn_iters)
        q_k = sinkhorn(s_k, self.sinkhorn_epsilon, self.sinkhorn_iters)
        w_swap, w_agg, w_sep = PROTO_WEIGHTS[self.proto_weights]
        return (w_swap * swapped_prediction_loss(s_q, s_k, q_q, q_k, self.proto_temperature)
                + w_agg * aggregation_loss(z_q, self.prototypes, q_q)
                + w_sep * separation_loss(self.prototypes, self.delta))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):          # evaluation on single images
            return cross_entropy(y, y_pred)
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        z_q, z_k, logits = y_pred["z_q"], y_pred["z_k"], y_pred["logits"]
        b = ops.shape(labels)[0]
        # keys: this batch's (the anchor's own key, another view, is a positive) + the queue
        queue_keys = ops.copy(self.queue_keys)
        queue_labels = ops.copy(self.queue_labels)
        keys = ops.concatenate([z_k, ops.cast(queue_keys, z_k.dtype)], axis=0)
        key_labels = ops.concatenate([labels, queue_labels], axis=0)
        key_valid = ops.concatenate([ops.ones((b,), "float32"),
                                     ops.cast(queue_labels >= 0, "float32")], axis=0)
        terms, gnorm, has_pos = rebalanced_supcon_terms(z_q, labels, keys, key_labels,
                                                        self.temperature, key_valid)
        weights = self.class_weights()          # from the statistics before this step
        loss = rebalanced_supcon_loss(terms, labels, weights, has_pos)
        if self.use_prototypes:
            loss = loss + self.prototype_loss(z_q, z_k)
        loss = loss + self.classifier_weight * self.classification_loss(labels, logits)
        if training:
            self.update_grad_stats(labels, gnorm, has_pos)
            self.enqueue(z_k, labels)
            if self.weight_decay:
                loss = loss + l2_penalty(self.trainable_variables, self.weight_decay)
        return loss

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts,
                **self.options.as_dict()}


def build_rebsupcon(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
    """A built :class:`RebSupCon` from a resolved recipe: architecture from ``model:``,
    options from ``rebsupcon:``."""
    model = RebSupCon(**arch_kwargs(cfg["model"], num_classes, input_shape,
                                    cfg["optim"]["weight_decay"]),
                      class_counts=class_counts, **cfg["rebsupcon"])
    model.build((None, *input_shape))
    return model


#: (use_rebalance, use_prototypes) -> Reb-SupCon Table 6 row, for the ablation recipes' cards
_ABLATIONS = {(False, False): "SupCon (MoCo) only", (True, False): "+ rebalancing factor",
              (False, True): "+ prototype module"}


def _describe_rebsupcon(recipe, method):
    opts = recipe.get("rebsupcon") or {}
    row = _ABLATIONS.get((opts.get("use_rebalance", True), opts.get("use_prototypes", True)))
    return method.title, method.citation, row and f"Reb-SupCon Table 6 ablation: {row}"


register_method(Method(
    name="rebsupcon", title="Reb-SupCon: Rebalancing Supervised Contrastive Learning",
    citation="Lv, Lei, Zhang, Chen & Li, *Rebalancing in Supervised Contrastive Learning for "
             "Long-Tailed Visual Recognition*, Big Data Cogn. Comput. 2025, 9(8), 204",
    build=build_rebsupcon, min_views=2, max_views=2, views_doc="query view, key view",
    pairs=True, own_loss=True, training_state=True, describe_fn=_describe_rebsupcon))
