"""Convert official BCCL / BCL PyTorch checkpoints into keras-lt weights.

The reference models (BCCL ``model/models.py`` ``Model``, BCL's equivalent) have three
parts, which map onto three keras-lt objects:

=================================  ==========================================
torch state-dict keys              keras-lt object
=================================  ==========================================
``encoder.*``                      backbone (``keras_lt.backbones``); torch module
                                   ``encoder.layer2.0.bn1`` <-> Keras layer
                                   ``layer2_0_bn1``
``head.{0,1,3}.*``                 :class:`~keras_lt.layers.ProjectionHead`
                                   (Linear, BatchNorm1d, [ReLU], Linear)
``fc.weight`` [``fc.bias``]        :class:`~keras_lt.layers.CosineClassifier`
                                   (BCCL ``NormedLinear``, weight stored (in, out),
                                   no bias) or :class:`~keras_lt.layers.LinearClassifier`
                                   (``nn.Linear``, weight (out, in) + bias)
``head_fc.*`` (BCL only)           optional second ProjectionHead (class-centre head)
=================================  ==========================================

Layouts: conv ``(out, in/groups, kh, kw) -> (kh, kw, in/groups, out)``; Linear
``(out, in) -> (in, out)``; BatchNorm ``weight, bias, running_mean, running_var ->
gamma, beta, moving_mean, moving_variance``; ``num_batches_tracked`` is ignored.

Everything is checked before anything is assigned: a missing key, an unused key or a
shape mismatch raises :class:`ConversionError` naming every offending key.

No pickle is used except ``torch.load(..., weights_only=True)`` for ``.pt``/``.pth``/
``.tar`` files (only if torch is importable).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_lt.backbones import get_backbone
from keras_lt.layers import CosineClassifier, LinearClassifier, ProjectionHead

IGNORED_SUFFIXES = (".num_batches_tracked",)


class ConversionError(ValueError):
    """A state dict does not match the Keras model (missing/unused keys, bad shapes)."""


@dataclass
class ConversionReport:
    """What :func:`convert_state_dict` did."""

    assigned: list = field(default_factory=list)      # torch keys copied
    ignored: list = field(default_factory=list)       # torch keys deliberately skipped
    classifier_layout: str = ""                       # how fc.weight was read

    def __str__(self):
        lines = [f"assigned {len(self.assigned)} tensors, ignored {len(self.ignored)}"]
        if self.classifier_layout:
            lines.append(f"classifier: {self.classifier_layout}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# key maps


def _to_numpy(value):
    if hasattr(value, "detach"):           # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _conv_kernel(w):
    return np.transpose(w, (2, 3, 1, 0))


def _linear_kernel(w):
    return np.transpose(w, (1, 0))


def _identity(w):
    return w


def _layer_targets(layer, tname):
    """[(torch_key, keras_variable, transform)] for one Keras layer named like torch."""
    from keras import layers

    out = []
    if isinstance(layer, layers.Conv2D):
        out.append((f"{tname}.weight", layer.kernel, _conv_kernel))
        if layer.use_bias:
            out.append((f"{tname}.bias", layer.bias, _identity))
    elif isinstance(layer, layers.BatchNormalization):
        if layer.scale:
            out.append((f"{tname}.weight", layer.gamma, _identity))
        if layer.center:
            out.append((f"{tname}.bias", layer.beta, _identity))
        out.append((f"{tname}.running_mean", layer.moving_mean, _identity))
        out.append((f"{tname}.running_var", layer.moving_variance, _identity))
    elif isinstance(layer, layers.Dense):
        out.append((f"{tname}.weight", layer.kernel, _linear_kernel))
        if layer.use_bias:
            out.append((f"{tname}.bias", layer.bias, _identity))
    elif layer.weights:
        raise ConversionError(f"no torch mapping for Keras layer {layer.name!r} "
                              f"({type(layer).__name__})")
    return out


def backbone_targets(backbone, prefix="encoder."):
    """Targets of a keras-lt backbone: Keras layer ``layer2_0_bn1`` <-> torch
    ``{prefix}layer2.0.bn1``."""
    targets = []
    for layer in backbone.layers:
        targets += _layer_targets(layer, prefix + layer.name.replace("_", "."))
    return targets


def head_targets(head, prefix="head."):
    """Targets of a :class:`ProjectionHead`: ``dense_i`` <-> ``{prefix}{3i}``,
    ``bn_i`` <-> ``{prefix}{3i+1}`` (torch ``Sequential(Linear, BN, ReLU, Linear...)``)."""
    targets = []
    for i, dense in enumerate(head.dense_layers):
        targets += _layer_targets(dense, f"{prefix}{3 * i}")
    for i, bn in enumerate(head.bn_layers):
        targets += _layer_targets(bn, f"{prefix}{3 * i + 1}")
    return targets


def classifier_targets(classifier, state_dict, prefix="fc."):
    """Targets of the classifier and a description of the layout used for ``fc.weight``.

    ``CosineClassifier``: BCCL/BCL ``NormedLinear`` stores the weight as (in, out); a
    weight stored (out, in) (``nn.Linear`` layout) is transposed when the shape says
    so unambiguously. ``LinearClassifier``: ``nn.Linear`` (out, in) weight + bias.
    """
    wkey, bkey = f"{prefix}weight", f"{prefix}bias"
    kshape = tuple(classifier.kernel.shape)
    w = state_dict.get(wkey)
    wshape = None if w is None else tuple(_to_numpy(w).shape)
    if isinstance(classifier, CosineClassifier):
        if bkey in state_dict:
            raise ConversionError(
                f"{bkey!r} present: the checkpoint has a plain nn.Linear classifier with "
                "bias, use LinearClassifier (classifier kind 'linear')")
        if wshape == kshape or wshape is None:
            return [(wkey, classifier.kernel, _identity)], "NormedLinear weight (in, out)"
        if wshape == kshape[::-1]:
            return ([(wkey, classifier.kernel, _linear_kernel)],
                    "weight (out, in) transposed to (in, out)")
        return [(wkey, classifier.kernel, _identity)], "NormedLinear weight (in, out)"
    if isinstance(classifier, LinearClassifier):
        targets = [(wkey, classifier.kernel, _linear_kernel),
                   (bkey, classifier.bias, _identity)]
        if bkey not in state_dict and wshape == kshape:
            raise ConversionError(
                f"{wkey!r} has no bias and is stored (in, out) like NormedLinear: "
                "use CosineClassifier (classifier kind 'cosine')")
        return targets, "nn.Linear weight (out, in) + bias"
    raise ConversionError(f"unsupported classifier type {type(classifier).__name__}")


# ---------------------------------------------------------------------------
# conversion


def convert_state_dict(state_dict, backbone, head=None, classifier=None, head_fc=None,
                       prefixes=None, ignore_prefixes=(), strict=True):
    """Copy a BCCL/BCL torch state dict into built keras-lt objects.

    Args:
        state_dict: mapping torch key -> array (numpy arrays or torch tensors).
        backbone: keras-lt backbone model (e.g. ``get_backbone("resnet32")``).
        head: built :class:`ProjectionHead` for ``head.*`` (or None to skip).
        classifier: built ``CosineClassifier``/``LinearClassifier`` for ``fc.*`` (or None).
        head_fc: built :class:`ProjectionHead` for BCL's ``head_fc.*`` (or None).
        prefixes: dict overriding the module prefixes ``{"backbone": "encoder.",
            "head": "head.", "classifier": "fc.", "head_fc": "head_fc."}``.
        ignore_prefixes: torch key prefixes to skip silently.
        strict: if True, keys of the state dict that were not used (and not ignored)
            are an error. Parts passed as None are always ignored.

    Returns:
        :class:`ConversionReport`.

    Raises:
        ConversionError: naming every missing key, unused key and shape mismatch;
            nothing is assigned in that case.

    Example:
    >>> sd = dict(np.load("bccl.npz"))                     # doctest: +SKIP
    >>> convert_state_dict(sd, backbone, head, classifier)  # doctest: +SKIP
    """
    pre = {"backbone": "encoder.", "head": "head.", "classifier": "fc.",
           "head_fc": "head_fc."}
    pre.update(prefixes or {})
    state_dict = dict(state_dict)
    report = ConversionReport()

    targets = backbone_targets(backbone, pre["backbone"])
    skip = list(ignore_prefixes)
    if head is not None:
        targets += head_targets(head, pre["head"])
    else:
        skip.append(pre["head"])
    if head_fc is not None:
        targets += head_targets(head_fc, pre["head_fc"])
    else:
        skip.append(pre["head_fc"])
    if classifier is not None:
        ctargets, report.classifier_layout = classifier_targets(
            classifier, state_dict, pre["classifier"])
        targets += ctargets
    else:
        skip.append(pre["classifier"])

    errors, values = [], []
    for key, var, transform in targets:
        if key not in state_dict:
            errors.append(f"missing key {key!r} (for Keras variable {var.path})")
            continue
        arr = transform(_to_numpy(state_dict[key]))
        if tuple(arr.shape) != tuple(var.shape):
            errors.append(f"shape mismatch for {key!r}: torch {tuple(_to_numpy(state_dict[key]).shape)}"
                          f" -> {tuple(arr.shape)}, Keras variable {var.path} expects "
                          f"{tuple(var.shape)}")
            continue
        values.append((key, var, arr))
    used = {key for key, _, _ in targets}
    for key in state_dict:
        if key in used:
            continue
        if key.endswith(IGNORED_SUFFIXES) or any(key.startswith(p) for p in skip):
            report.ignored.append(key)
        elif strict:
            errors.append(f"unexpected key {key!r} (no matching Keras variable)")
        else:
            report.ignored.append(key)
    if errors:
        raise ConversionError(f"{len(errors)} problem(s) converting the state dict:\n  "
                              + "\n  ".join(errors))
    for key, var, arr in values:
        var.assign(arr.astype(var.dtype))
        report.assigned.append(key)
    return report


def _conv_kernel_to_torch(w):
    return np.transpose(w, (3, 2, 0, 1))


#: Keras -> torch layout of each transform used by the targets
_TO_TORCH = {_conv_kernel: _conv_kernel_to_torch, _linear_kernel: _linear_kernel,
             _identity: _identity}


def to_torch_state_dict(backbone, head=None, classifier=None, prefixes=None):
    """The inverse of :func:`convert_state_dict`: ``{torch key: np.ndarray}`` in the
    BCCL/BCL module layout (``encoder.*``, ``head.*``, ``fc.*``; every BatchNorm also
    gets ``num_batches_tracked`` as the reference modules have). A cosine classifier is
    written as ``NormedLinear`` (in, out), a linear one as ``nn.Linear`` (out, in) + bias.

    Example:
    >>> sd = to_torch_state_dict(model.backbone, model.head, model.classifier)  # doctest: +SKIP
    >>> torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, "model.pth")  # doctest: +SKIP
    """
    from keras import ops

    pre = {"backbone": "encoder.", "head": "head.", "classifier": "fc."}
    pre.update(prefixes or {})
    targets = backbone_targets(backbone, pre["backbone"])
    if head is not None:
        targets += head_targets(head, pre["head"])
    if classifier is not None:
        targets += classifier_targets(classifier, {}, pre["classifier"])[0]
    sd = {}
    for key, var, transform in targets:
        sd[key] = np.ascontiguousarray(_TO_TORCH[transform](ops.convert_to_numpy(var)))
        if key.endswith(".running_var"):
            sd[key[:-len("running_var")] + "num_batches_tracked"] = np.array(0, np.int64)
    return sd


# ---------------------------------------------------------------------------
# checkpoint files


def _strip_module(sd):
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_state_dict(path):
    """Read a state dict ``{name: np.ndarray}`` from ``.npz`` (no pickles; if a
    ``state_dict_keys`` array is present only those keys are read), ``.safetensors``,
    or a torch ``.pt``/``.pth``/``.tar`` checkpoint (``torch.load(weights_only=True)``;
    ``state_dict``/``model`` wrappers and ``module.`` prefixes are removed)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            keys = [str(k) for k in z["state_dict_keys"]] if "state_dict_keys" in z.files \
                else list(z.files)
            sd = {k: np.asarray(z[k]) for k in keys}
    elif name.endswith(".safetensors"):
        from safetensors.numpy import load_file
        sd = dict(load_file(str(path)))
    elif name.endswith((".pt", ".pth", ".tar", ".pth.tar", ".ckpt")):
        try:
            import torch
        except ImportError as e:  # pragma: no cover
            raise ConversionError(f"reading {path.name} needs torch; convert it to .npz or "
                                  ".safetensors first") from e
        import pickle

        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(
                f"{path}: refused to load. torch.load(weights_only=True) only reads tensors "
                f"and plain containers and this file holds something else ({first}). Nothing "
                f"in it was executed; re-save its state_dict from trusted code, or convert it "
                f"to .safetensors") from None
        for wrapper in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
        if not isinstance(obj, dict):
            raise ConversionError(f"{path} does not contain a state dict")
        sd = {k: _to_numpy(v) for k, v in obj.items() if hasattr(v, "shape")}
    else:
        raise ConversionError(f"unsupported checkpoint format: {path.name} "
                              "(use .npz, .safetensors, .pt, .pth or .tar)")
    return _strip_module(sd)


def infer_config(state_dict, scale=1.0 / 0.03):
    """Guess the architecture of a BCCL/BCL state dict.

    Returns a dict with ``arch``, ``width``, ``input_shape``, ``num_classes``,
    ``feat_dim``, ``head_hidden``, ``head_layers``, ``classifier`` (``cosine``/``linear``),
    ``classifier_scale`` and ``head_fc`` (bool)."""
    sd = state_dict
    if "encoder.conv1.weight" not in sd:
        raise ConversionError("no 'encoder.conv1.weight' key: not a BCCL/BCL checkpoint")
    cfg = {}
    if "encoder.layer1.0.conv3.weight" in sd:
        groups_in = _to_numpy(sd["encoder.layer1.0.conv2.weight"]).shape[1]
        cfg["arch"] = "resnext50_32x4d" if groups_in == 4 else "resnet50"
        cfg["width"] = 1
        cfg["input_shape"] = [224, 224, 3]
    else:
        blocks = {int(m.group(1)) for k in sd
                  if (m := re.match(r"encoder\.layer1\.(\d+)\.", k))}
        depth = 6 * len(blocks) + 2
        cfg["arch"] = f"resnet{depth}"
        cfg["width"] = int(_to_numpy(sd["encoder.conv1.weight"]).shape[0]) // 16
        cfg["input_shape"] = [32, 32, 3]
    heads = sorted({int(m.group(1)) for k in sd if (m := re.match(r"head\.(\d+)\.weight$", k))})
    dense_idx = [i for i in heads if i % 3 == 0]
    if dense_idx:
        cfg["head_layers"] = len(dense_idx)
        cfg["head_hidden"] = int(_to_numpy(sd["head.0.weight"]).shape[0])
        cfg["feat_dim"] = int(_to_numpy(sd[f"head.{dense_idx[-1]}.weight"]).shape[0])
    else:
        cfg["head_layers"] = 0
        cfg["head_hidden"] = cfg["feat_dim"] = None
    cfg["head_fc"] = any(k.startswith("head_fc.") for k in sd)
    w = _to_numpy(sd["fc.weight"]) if "fc.weight" in sd else None
    if w is None:
        cfg["classifier"], cfg["num_classes"], cfg["classifier_scale"] = None, None, None
    elif "fc.bias" in sd:
        cfg["classifier"], cfg["num_classes"], cfg["classifier_scale"] = \
            "linear", int(w.shape[0]), None
    else:
        cfg["classifier"], cfg["num_classes"], cfg["classifier_scale"] = \
            "cosine", int(w.shape[1]), float(scale)
    return cfg


def build_models(config):
    """Build ``(backbone, head, classifier, head_fc)`` for a config from
    :func:`infer_config` (parts absent from the config are None)."""
    kwargs = {"width": config["width"]} if config.get("width", 1) != 1 else {}
    backbone = get_backbone(config["arch"], input_shape=tuple(config["input_shape"]), **kwargs)
    d = backbone.output_shape[-1]
    head = head_fc = classifier = None
    if config.get("head_layers"):
        head = ProjectionHead(config["head_hidden"], config["feat_dim"],
                              num_layers=config["head_layers"], name="head")
        head.build((None, d))
        if config.get("head_fc"):
            head_fc = ProjectionHead(config["head_hidden"], config["feat_dim"],
                                     num_layers=config["head_layers"], name="head_fc")
            head_fc.build((None, d))
    if config.get("classifier") == "cosine":
        classifier = CosineClassifier(config["num_classes"], scale=config["classifier_scale"],
                                      name="classifier")
    elif config.get("classifier") == "linear":
        classifier = LinearClassifier(config["num_classes"], name="classifier")
    if classifier is not None:
        classifier.build((None, d))
    return backbone, head, classifier, head_fc
