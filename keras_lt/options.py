"""Each method's hyperparameters as one typed record, the only place their defaults live.

:class:`BCCLOptions` and :class:`RebSupConOptions` are read by

* the models: ``BCCL(**kwargs)`` / ``RebSupCon(**kwargs)`` take the options as keyword
  arguments (:meth:`MethodOptions.take`), keep them as ``model.options`` and write them
  back in ``get_config``;
* the recipes: the ``bccl:`` / ``rebsupcon:`` sections of :data:`keras_lt.config.DEFAULTS`
  are :meth:`MethodOptions.defaults`, and a recipe's values are checked by
  :meth:`MethodOptions.check` (type, range, choices) before anything is built;
* the documentation: each field's ``doc`` says what it is and where its default comes from.

>>> from keras_lt.options import BCCLOptions
>>> BCCLOptions().num_centroids
5
>>> BCCLOptions(num_centroids=0)
Traceback (most recent call last):
...
ValueError: num_centroids must be an integer >= 1, got 0

Importing this module imports neither Keras nor a backend.
"""

import dataclasses
import numbers
from typing import ClassVar

__all__ = ["MethodOptions", "BCCLOptions", "RebSupConOptions", "METHOD_OPTIONS", "option",
           "describe_range", "SCL_COUNTS", "CENTROID_NORMS", "PROTO_WEIGHTS"]

#: denominators of BCCL's supervised contrast (keras_lt.losses.contrastive's
#: class_averaged_supcon_loss; first: the default)
SCL_COUNTS = ("contrast", "printed", "bccl_reference")
#: readings of BCCL eq. 5's normaliser, what |C| counts (keras_lt.losses.contrastive's
#: centroid_contrastive_loss; first: the default)
CENTROID_NORMS = ("class", "all", "anchor")
#: Reb-SupCon's (swap, aggregation, separation) loss weights under the paper's two readings
PROTO_WEIGHTS = {
    "role": (0.2, 0.5, 0.3),     # §4.5: 0.5 aggregation, 0.3 separation, 0.2 alignment (swap)
    "order": (0.5, 0.3, 0.2),    # §4.2: (lambda1, lambda2, lambda3) on (L1 swap, L2 agg, L3 sep)
}


def option(default, doc, kind, low=None, high=None, ends="[]", choices=None, optional=False):
    """A field of a :class:`MethodOptions` record.

    ``kind``: ``"int"``, ``"number"``, ``"bool"`` or ``"choice"`` (one of ``choices``);
    ``low``/``high`` bound a number (``None``: unbounded), ``ends`` says whether each end is
    closed (``"[]"``) or open (``"(]"``, ``"[)"``, ``"()"``); ``optional`` also admits ``None``.
    """
    return dataclasses.field(default=default, metadata=dict(
        doc=doc, kind=kind, low=low, high=high, ends=ends, choices=choices, optional=optional))


def describe_range(kind, low=None, high=None, ends="[]"):
    """``"an integer >= 1"``, ``"a number > 0 and < 1"``: what a numeric setting accepts."""
    noun = "an integer" if kind == "int" else "a number"
    parts = []
    if low is not None:
        parts.append(f"{'>=' if ends[0] == '[' else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if ends[1] == ']' else '<'} {high}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


def check_value(name, value, kind, low=None, high=None, ends="[]", choices=None, optional=False):
    """``value`` if the setting ``name`` accepts it, else a ValueError naming the setting, what
    it accepts and the value. A string that reads as a number is returned as a float for
    numbers (YAML 1.1 reads ``1e-3`` as a string); other values come back unchanged."""
    if value is None and optional:
        return None
    or_null = " (or null)" if optional else ""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false{or_null}, got {value!r}")
    if kind == "choice":
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(f"{name} must be one of {tuple(choices)}{or_null}, got {value!r}")
    if kind == "number" and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    ok = not isinstance(value, bool) and isinstance(
        value, numbers.Real if kind == "number" else numbers.Integral)
    if ok and kind == "number":
        ok = value == value and abs(value) != float("inf")
    if ok and low is not None:
        ok = value >= low if ends[0] == "[" else value > low
    if ok and high is not None:
        ok = value <= high if ends[1] == "]" else value < high
    if not ok:
        raise ValueError(f"{name} must be {describe_range(kind, low, high, ends)}{or_null}, "
                         f"got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class MethodOptions:
    """Base of the typed option records; the fields are checked when a record is made."""

    #: the recipe section that holds these options (``bccl``, ``rebsupcon``)
    section: ClassVar[str] = ""
    #: the ``model:`` settings the method's papers use, where they differ from the
    #: recipe defaults (the method model's constructor takes the same)
    model_defaults: ClassVar[dict] = {}

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = check_value(f.name, getattr(self, f.name), **_checks(f))
            if value is not None and f.metadata["kind"] in _CASTS:
                value = _CASTS[f.metadata["kind"]](value)
            object.__setattr__(self, f.name, value)

    @classmethod
    def defaults(cls):
        """The default options as a plain dict (a recipe section)."""
        return dataclasses.asdict(cls())

    @classmethod
    def names(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def check(cls, values, prefix=""):
        """``values`` (a recipe section) with each option checked (see :func:`check_value`);
        the ValueError names ``prefix`` + the key."""
        out = dict(values)
        for f in dataclasses.fields(cls):
            if f.name in out:
                out[f.name] = check_value(prefix + f.name, out[f.name], **_checks(f))
        return out

    @classmethod
    def take(cls, kwargs):
        """Split a model constructor's ``kwargs`` into ``(options record, other kwargs)``."""
        mine = {k: kwargs[k] for k in cls.names() if k in kwargs}
        rest = {k: v for k, v in kwargs.items() if k not in mine}
        return cls(**mine), rest

    def as_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def help(cls):
        """One line per option: ``name (default): doc``, for documentation and ``--help``."""
        return "\n".join(f"{f.name} ({f.default!r}): {f.metadata['doc']}"
                         for f in dataclasses.fields(cls))


_CASTS = {"int": int, "number": float}


def _checks(f):
    return {k: v for k, v in f.metadata.items() if k != "doc"}


@dataclasses.dataclass(frozen=True)
class BCCLOptions(MethodOptions):
    """BCCL's hyperparameters (Kim & Ko 2025): the paper's CIFAR values (§4.1-4.3) where it
    gives them, the released code's otherwise (M = 100, the k-means tolerance)."""

    section: ClassVar[str] = "bccl"
    #: the code's ``--use_norm True``: a cosine (NormedLinear) classifier with s = 1 / 0.03
    model_defaults: ClassVar[dict] = {"classifier": "cosine", "classifier_scale": 1.0 / 0.03}

    feat_dim: int = option(128, "projection size D (head d -> head_hidden -> D; code head "
                           "'cifar': 64 -> 512 -> 128)", "int", 1)
    head_hidden: int = option(512, "hidden width of the projection head", "int", 1)
    queue_size: int = option(100, "M, feature-queue length per class (the code's --queue_size; "
                             "the paper gives none)", "int", 1)
    num_centroids: int = option(5, "k, centroids per class (§4.1, --centroid)", "int", 1)
    temperature: float = option(0.1, "tau of the contrastive losses (0.1 CIFAR, 0.07 "
                                "ImageNet-LT / iNaturalist)", "number", 0, ends="()")
    gamma: float = option(0.1, "weight of the centroid loss (§4.3, --ceta)", "number", 0)
    lc_tau: float = option(1.0, "logit-compensation scale (eqs. 7-8)", "number", 0)
    warmup_epochs: int = option(None, "epochs of plain SCL before the centroids join (paper: 20 "
                                "CIFAR, 10 ImageNet-LT / iNaturalist); null in a recipe: the "
                                "learning-rate warm-up's length, one warm-up as in the code",
                                "int", 0, optional=True)
    refresh_every: int = option(5, "epochs between k-means refreshes after the warm-up "
                                "(paper: 5)", "int", 1)
    refresh: str = option("paper", "'paper': first step of every refresh_every-th epoch; "
                          "'reference': every step of epochs divisible by refresh_every (the "
                          "code)", "choice", choices=("paper", "reference"))
    centroid_loss: str = option("paper", "'paper': eq. 5; 'reference': the code's linear form",
                                "choice", choices=("paper", "reference"))
    centroid_norm: str = option("class", "what |C| counts in eq. 5's 1 / (N_B + |C|)", "choice",
                                choices=CENTROID_NORMS)
    scl_count: str = option("contrast", "SCL denominator: class-averaged (BCL eq. 6, the code), "
                            "'printed' (eqs. 2 / 6) or 'bccl_reference'", "choice",
                            choices=SCL_COUNTS)
    complement: bool = option(True, "after the warm-up the centroids join the contrast set "
                              "(eq. 6); false: eq. 2 throughout (the code)", "bool")
    use_scl: bool = option(True, "ablation switch (Table 4)", "bool")
    use_centroid_loss: bool = option(True, "ablation switch (Table 4)", "bool")
    use_lc: bool = option(True, "ablation switch (Table 4); off: plain cross-entropy", "bool")
    queue_store: str = option("all_views", "which projections enter the queues: both views "
                              "(the code) or view 0", "choice",
                              choices=("all_views", "classifier_view"))
    kmeans_iters: int = option(100, "k-means iterations at most (the code's kmeans_gpu)", "int", 1)
    kmeans_tol: float = option(1.0e-4, "k-means stops when no class's centroids move more than "
                               "this (null: always kmeans_iters)", "number", 0, optional=True)


@dataclasses.dataclass(frozen=True)
class RebSupConOptions(MethodOptions):
    """Reb-SupCon's hyperparameters (Lv et al. 2025, §3.3, §4.2, Tables 7-8); CIFAR-scale
    values where the paper gives ImageNet ones (see reports/README.md)."""

    section: ClassVar[str] = "rebsupcon"

    feat_dim: int = option(128, "output of the MLP G (§4.2: 128 -> 256 -> 128)", "int", 1)
    head_hidden: int = option(256, "hidden width of G", "int", 1)
    queue_size: int = option(4096, "labelled key-queue length (MoCo: 65,536 on ImageNet)",
                             "int", 1)
    momentum: float = option(0.999, "key-encoder EMA m (MoCo's default; the paper states none)",
                             "number", 0, 1)
    temperature: float = option(0.1, "tau of L_reb", "number", 0, ends="()")
    alpha: float = option(0.5, "rebalancing factor alpha (Table 7)", "number")
    beta: float = option(0.1, "rebalancing factor beta (Table 7)", "number")
    eps: float = option(1.0e-5, "rebalancing factor epsilon (Table 7)", "number", 0, ends="()")
    rebalance: str = option("printed", "reading of omega: as printed, or its inverse", "choice",
                            choices=("printed", "inverse"))
    grad_momentum: float = option(0.9, "EMA of the per-class gradient-norm statistics",
                                  "number", 0, 1, ends="[)")
    num_prototypes: int = option(30, "K trainable prototypes", "int", 1)
    proto_temperature: float = option(None, "T of the swapped prediction (null: temperature, "
                                      "§4.2's one tau)", "number", 0, ends="()", optional=True)
    sinkhorn_epsilon: float = option(0.05, "Sinkhorn epsilon (§3.3.2)", "number", 0, ends="()")
    sinkhorn_iters: int = option(3, "Sinkhorn iterations (§3.3.2)", "int", 1)
    delta: float = option(1.0, "separation margin", "number")
    proto_weights: str = option("role", "(swap, agg, sep) weights: by role (§4.5) or by order "
                                "(§4.2)", "choice", choices=tuple(PROTO_WEIGHTS))
    classifier_loss: str = option("logit_adjusted", "loss of the jointly trained linear "
                                  "classifier (the paper states none)", "choice",
                                  choices=("logit_adjusted", "ce"))
    classifier_stop_gradient: bool = option(False, "train the classifier on detached features",
                                            "bool")
    classifier_weight: float = option(1.0, "weight of the classifier loss in the total",
                                      "number", 0)
    use_rebalance: bool = option(True, "ablation switch (Table 6)", "bool")
    use_prototypes: bool = option(True, "ablation switch (Table 6)", "bool")


#: recipe ``method`` -> its option record (methods without options train a plain classifier)
METHOD_OPTIONS = {cls.section: cls for cls in (BCCLOptions, RebSupConOptions)}
