"""BCCL: Balanced Clustering Contrastive Learning (Kim & Ko 2025) as a ``keras.Model``.

Everything the method does per step runs inside :meth:`BCCL.compute_loss`, so a
plain ``model.fit`` trains it on torch, TensorFlow and JAX:

1. the multi-view batch (V views of B images, view 0 the classifier view) goes
   through the encoder F once; the projection head gives L2-normalised z
   (B, V, D), the classifier G gives logits of view 0;
2. on refresh steps the class-wise queues are clustered into C x k centroids
   (eq. 4, :func:`~keras_lt.layers.clustering.batched_kmeans`):
   ``refresh="paper"`` -- at the first step of every ``refresh_every``-th epoch
   from the end of the warm-up on (paper: every 5 epochs); ``refresh="reference"``
   -- at every step of the epochs divisible by ``refresh_every`` (BCCL's code: 10);
3. the loss (eq. 9 with §4.3): ``L = L_SCL + L_LC + gamma * L_CL``:
   before the warm-up ends L_SCL is the supervised contrast of eq. 2 and there is
   no centroid loss; afterwards the centroids join the contrast set
   (class-complement, eq. 6; ``complement=False`` keeps eq. 2, as the released code
   does) and the centroid loss (eq. 5, or the reference code's linear form with
   ``centroid_loss="reference"``) is added. L_SCL class-averages its denominator by
   default (BCL eq. 6, as BCL's and BCCL's code; ``scl_count="printed"`` gives the
   plain sums printed in eqs. 2 and 6). L_LC is the logit-compensated cross-entropy
   (eqs. 7-8: logits + log prior, tau = 1). Eq. 9 prints gamma on L_LC; §4.3 and the
   code put it on the centroid loss, which is what is done here;
4. the queues receive the detached z of every view (``queue_store="all_views"``,
   as the code does; ``"classifier_view"`` stores view 0 only) -- every step,
   warm-up included.

Queues, centroids, the k-means seed and the step count are model variables:
saved in checkpoints and restored on resume.
"""

import keras
from keras import ops

from keras_lt.layers import ProjectionHead
from keras_lt.layers.clustering import batched_kmeans
from keras_lt.layers.queues import ClassQueue
from keras_lt.losses.classification import (
    cross_entropy, log_class_prior, logit_adjusted_cross_entropy)
from keras_lt.losses.contrastive import (
    bccl_reference_centroid_loss, centroid_contrastive_loss, class_averaged_supcon_loss)
from keras_lt.models.classifier import LTClassifier, arch_kwargs, l2_penalty, resolve_class_counts
from keras_lt.models.registry import Method, register_method
from keras_lt.options import BCCLOptions

__all__ = ["BCCL"]


@keras.saving.register_keras_serializable(package="keras_lt")
class BCCL(LTClassifier):
    """BCCL training model; ``model(images)`` returns the classifier's logits.

    Args (beyond :class:`~keras_lt.models.LTClassifier`'s):
        class_counts: training images per class (logit compensation prior).
        steps_per_epoch: batches per epoch (for the centroid schedule).
        seed: seed of the k-means initialisation.
        **options: the fields of :class:`~keras_lt.options.BCCLOptions` (their defaults
            and meaning live there: ``feat_dim``, ``queue_size`` M, ``num_centroids`` k,
            ``temperature``, ``gamma``, ``warmup_epochs``, ``refresh``, ``centroid_loss``,
            ``scl_count``, ``complement``, the Table 4 switches, ...); each is also an
            attribute of the model. ``warmup_epochs`` has no default here: it is the
            dataset's (paper: 20 on CIFAR, 10 on ImageNet-LT / iNaturalist).

    >>> model = BCCL("resnet20", num_classes=4, class_counts=[40, 20, 8, 4],
    ...              input_shape=(16, 16, 3), warmup_epochs=1)   # doctest: +SKIP
    >>> model.options.num_centroids                                # doctest: +SKIP
    5
    """

    def __init__(self, backbone="resnet32", num_classes=10, class_counts=None,
                 backbone_kwargs=None, classifier=BCCLOptions.model_defaults["classifier"],
                 classifier_scale=BCCLOptions.model_defaults["classifier_scale"],
                 input_shape=(32, 32, 3), weight_decay=0.0, steps_per_epoch=1, seed=0,
                 **kwargs):
        options, kwargs = BCCLOptions.take(kwargs)
        if options.warmup_epochs is None:
            raise ValueError("BCCL needs warmup_epochs, the epochs of plain SCL (paper: 20 on "
                             "CIFAR, 10 on ImageNet-LT / iNaturalist); a recipe's null is "
                             "resolved to optim.warmup_epochs by build_method_model")
        super().__init__(backbone=backbone, num_classes=num_classes,
                         backbone_kwargs=backbone_kwargs, classifier=classifier,
                         classifier_scale=classifier_scale, input_shape=input_shape,
                         weight_decay=weight_decay, **kwargs)
        self.options = options
        for name, value in options.as_dict().items():
            setattr(self, name, value)
        self.class_counts = resolve_class_counts(class_counts, self.num_classes)
        self.steps_per_epoch, self.seed = max(int(steps_per_epoch), 1), int(seed)
        self._log_prior = log_class_prior(self.class_counts).astype("float32")
        self.head = ProjectionHead(self.head_hidden, self.feat_dim, name="head")
        self.queue = ClassQueue(self.num_classes, self.queue_size, self.feat_dim, name="queue")
        self.centroids = self.add_weight(
            shape=(self.num_classes, self.num_centroids, self.feat_dim), initializer="zeros",
            trainable=False, name="centroids")
        self.steps = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                     trainable=False, name="steps")
        self.kmeans_seed = keras.random.SeedGenerator(self.seed, name="kmeans_seed")

    def build(self, input_shape=None):
        super().build(input_shape)
        self.head.build(self.backbone.output_shape)

    def call(self, images, training=False):
        """Logits of a batch; with a tuple of V views (training): a dict with
        ``z`` (V*B, D) projections and ``logits`` (V*B, C), views stacked in order."""
        if not isinstance(images, (tuple, list)):
            return super().call(images, training=training)
        feats = self.features(ops.concatenate(list(images), axis=0), training=training)
        # float32 under a mixed-precision policy too: queues, k-means and losses stay float32
        return {"z": ops.cast(self.head(feats, training=training), "float32"),
                "logits": ops.cast(self.classifier(feats), "float32")}

    # -- the schedule --------------------------------------------------------
    def _epoch_and_first_step(self):
        step = ops.convert_to_tensor(self.steps)
        return step // self.steps_per_epoch, ops.equal(step % self.steps_per_epoch, 0)

    def _refresh_now(self, epoch, first_step):
        if self.refresh == "paper":
            since = epoch - self.warmup_epochs
            return ops.logical_and(ops.logical_and(since >= 0, first_step),
                                   ops.equal(since % self.refresh_every, 0))
        on = ops.equal(epoch % self.refresh_every, 0)
        return ops.logical_and(on, epoch >= self.warmup_epochs)

    def _kmeans_noise(self):
        """(C, M) uniform numbers for the k-means initialisation, a function of
        (seed, step) only: the generator's counter is set from the saved step
        count, so a resumed run draws what the uninterrupted one would (a
        SeedGenerator's own state is not part of the saved weights). Drawn
        outside the refresh ``cond``: a JAX generator update must not sit in a branch."""
        state = self.kmeans_seed.state
        step = ops.convert_to_tensor(self.steps)
        dtype = keras.backend.standardize_dtype(state.dtype)
        state.assign(ops.convert_to_tensor([self.seed, 0], dtype)
                     + ops.cast(step, dtype) * ops.convert_to_tensor([0, 1], dtype))
        return keras.random.uniform((self.num_classes, self.queue_size), seed=self.kmeans_seed)

    def refresh_centroids(self, noise):
        """Recluster every class queue (eq. 4); returns (C, k, D) centroids.
        ``noise`` (C, M): uniform numbers for the k-means initialisation."""
        centroids, _, _ = batched_kmeans(ops.copy(self.queue.features), self.num_centroids,
                                         self.kmeans_iters, valid=self.queue.valid_mask(),
                                         noise=noise, tol=self.kmeans_tol)
        return centroids

    # -- the loss ------------------------------------------------------------
    def loss_terms(self, features, labels, logits, centroids, warm):
        """The unweighted terms of eq. 9 for one batch, as a dict: ``"lc"`` (or ``"ce"``
        without logit compensation), ``"scl"`` and ``"centroid"`` (0 during the warm-up;
        terms switched off by the ablation flags are absent).

        features (B, V, D) L2-normalised, labels (B,), logits (B, C) of the classifier
        view, centroids (C, k, D) (no gradient), warm: a boolean tensor.
        """
        terms = {}
        if self.use_lc:
            terms["lc"] = logit_adjusted_cross_entropy(labels, logits, self._log_prior,
                                                       self.lc_tau)
        else:
            terms["ce"] = cross_entropy(labels, logits)
        # a centroid is all zeros only before its class's queue ever held a feature
        # (initial value; k-means never returns a zero centroid for a non-empty
        # queue): such centroids are left out of eq. 5 and eq. 6
        centroid_valid = ops.cast(ops.sum(ops.square(centroids), axis=-1) > 0, "float32")
        if self.use_scl:
            flat = ops.reshape(centroids, (-1, self.feat_dim))
            proto_labels = ops.repeat(ops.arange(self.num_classes, dtype="int32"),
                                      self.num_centroids)
            # during warm-up (or without class-complement) every centroid is left out
            # of the contrast set, which is eq. 2 exactly (masked == absent); else eq. 6
            use = 0.0 if not self.complement else 1.0 - ops.cast(warm, "float32")
            in_contrast = ops.reshape(centroid_valid, (-1,)) * use
            terms["scl"] = class_averaged_supcon_loss(features, labels, self.num_classes,
                                                      self.temperature, prototypes=flat,
                                                      prototype_labels=proto_labels,
                                                      count=self.scl_count,
                                                      prototype_valid=in_contrast)
        if self.use_centroid_loss:
            if self.centroid_loss == "paper":
                l_cl = centroid_contrastive_loss(features, labels, centroids, self.temperature,
                                                 centroid_valid=centroid_valid,
                                                 norm=self.centroid_norm)
            else:
                l_cl = bccl_reference_centroid_loss(features, labels, centroids)
            terms["centroid"] = ops.where(warm, 0.0, l_cl)
        return terms

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):       # evaluation on single images: plain CE
            return cross_entropy(y, y_pred)
        views = len(x)
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        b = ops.shape(labels)[0]
        z = ops.reshape(y_pred["z"], (views, b, self.feat_dim))
        features = ops.transpose(z, (1, 0, 2))                                   # (B, V, D)
        logits = y_pred["logits"][:b]
        epoch, first_step = self._epoch_and_first_step()
        warm = epoch < self.warmup_epochs

        if training:
            refresh = self._refresh_now(epoch, first_step)
            noise = self._kmeans_noise()
            centroids = ops.cond(refresh, lambda: self.refresh_centroids(noise),
                                 lambda: ops.copy(self.centroids))
            self.centroids.assign(centroids)
        else:
            centroids = ops.copy(self.centroids)
        terms = self.loss_terms(features, labels, logits, ops.stop_gradient(centroids), warm)
        loss = sum(self.gamma * value if name == "centroid" else value
                   for name, value in terms.items())

        if training:
            stored = features if self.queue_store == "all_views" else features[:, :1]
            self.queue.update(ops.reshape(ops.transpose(stored, (1, 0, 2)), (-1, self.feat_dim)),
                              ops.tile(labels, (ops.shape(stored)[1],)))
            self.steps.assign(ops.convert_to_tensor(self.steps) + 1)
        if training and self.weight_decay:
            loss = loss + l2_penalty(self.trainable_variables, self.weight_decay)
        return loss

    def get_config(self):
        return {**super().get_config(), **self.options.as_dict(),
                "class_counts": self.class_counts, "steps_per_epoch": self.steps_per_epoch,
                "seed": self.seed}


def build_bccl(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
    """A built :class:`BCCL` from a resolved recipe: architecture from ``model:``, options
    from ``bccl:`` (``bccl.warmup_epochs: null`` takes ``optim.warmup_epochs``)."""
    opts = dict(cfg["bccl"])
    if opts.get("warmup_epochs") is None:
        opts["warmup_epochs"] = cfg["optim"]["warmup_epochs"]
    model = BCCL(**arch_kwargs(cfg["model"], num_classes, input_shape,
                               cfg["optim"]["weight_decay"]),
                 class_counts=class_counts, steps_per_epoch=steps_per_epoch,
                 seed=int(cfg.get("seed", 0)), **opts)
    model.build((None, *input_shape))
    return model


#: (use_centroid_loss, use_lc) -> BCCL Table 4 row, for the ablation recipes' cards
_ABLATIONS = {(False, False): "class-complement SCL only", (True, False): "SCL + centroid loss",
              (False, True): "SCL + logit compensation"}


def _describe_bccl(recipe, method):
    opts = recipe.get("bccl") or {}
    row = _ABLATIONS.get((opts.get("use_centroid_loss", True), opts.get("use_lc", True)))
    if not opts.get("use_scl", True):
        row = "without the supervised contrast"
    return method.title, method.citation, row and f"BCCL Table 4 ablation: {row}"


register_method(Method(
    name="bccl", title="BCCL: Balanced Clustering Contrastive Learning",
    citation="Kim & Ko, *Balanced Clustering Contrastive Learning for Long-Tailed Data "
             "Recognition*, 2025",
    build=build_bccl, min_views=2, views_doc="classifier view + contrastive view", pairs=True,
    own_loss=True, training_state=True, describe_fn=_describe_bccl))
