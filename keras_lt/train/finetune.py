"""Fine-tuning a pretrained model on new long-tailed data.

``tools/train.py --init <zoo name | Hub id | folder> --data <prepared dataset>`` and
:func:`keras_lt.train.loop.finetune_model` build the recipe's training model *for the new
data* (its class count, class priors for logit adjustment / compensation, rebalancing
statistics, queues and prototypes sized for the new classes), then copy in the
pretrained backbone (and the classifier when the classes are the same), and train
with any method's loss. ``finetune.freeze_backbone_epochs`` trains only the
non-backbone parts first (backbone in inference mode), then everything.

Example:
>>> keras_lt.finetune_model("la-resnet32-cifar10lt-if100", "data_cache/my-lt",
...                         "runs/my-ft", overrides=["optim.epochs=10"])   # doctest: +SKIP
"""

from keras_lt.config import apply_override, config_from_dict, load_config
from keras_lt.hub.pretrained import (PretrainedError, assign_inference_weights,
                                     inference_weights, load_inference_model,
                                     read_pretrained_config, resolve_pretrained)


def finetune_config(init, data, config=None, overrides=()):
    """The recipe of a fine-tuning run: ``config`` (a recipe file) or else the
    pretrained model's own recipe, with ``data.prepared = data``,
    ``finetune.init = init`` and the overrides applied."""
    directory, _ = resolve_pretrained(init)
    pcfg, _ = read_pretrained_config(directory)
    if config is not None:
        cfg = load_config(config)
    else:
        cfg = config_from_dict(pcfg["recipe"])
        cfg["name"] = f"{pcfg['name']}-finetuned"
        cfg["finetune"] = dict(cfg["finetune"])
    cfg["finetune"]["init"] = str(init)
    if data is not None:
        # other data: the pretrained recipe's benchmark facts do not describe it
        cfg["data"].update(prepared=str(data), dataset=None, imbalance_factor=None)
    for override in overrides:
        cfg = apply_override(cfg, override)
    return cfg


def init_from_pretrained(model, cfg, class_names, image_shape):
    """Copy the pretrained backbone (and classifier, per ``finetune.keep_classifier``)
    named by ``cfg["finetune"]["init"]`` into the freshly built training ``model``.
    Returns a one-line description of what was copied."""
    init = cfg["finetune"]["init"]
    directory, source = resolve_pretrained(init)
    pcfg, metadata = read_pretrained_config(directory)
    arch = pcfg["architecture"]
    want_shape = tuple(int(s) for s in arch["input_shape"])
    if tuple(image_shape)[2] != want_shape[2]:
        raise PretrainedError(f"{init} takes {want_shape[2]}-channel images, the data has "
                              f"{image_shape[2]} channels")
    # convolutions and global pooling carry over to another input size: fine-tune at the
    # data's size, and say so
    resized = "" if tuple(image_shape)[:2] == want_shape[:2] else (
        f"; trained on {want_shape[0]}x{want_shape[1]} inputs, fine-tuned on the data's "
        f"{image_shape[0]}x{image_shape[1]}")
    if (model.backbone_name, dict(model.backbone_kwargs)) != (arch["backbone"],
                                                              dict(arch.get("backbone_kwargs") or {})):
        raise PretrainedError(f"the recipe's backbone {model.backbone_name} "
                              f"{model.backbone_kwargs or ''} differs from {init}'s "
                              f"{arch['backbone']} {arch.get('backbone_kwargs') or ''}")
    tensors = inference_weights(load_inference_model(directory, metadata).classifier)
    same_classes = list(pcfg["class_names"]) == list(class_names)
    keep = cfg["finetune"].get("keep_classifier", "auto")
    if keep is True and not same_classes:
        raise PretrainedError(f"finetune.keep_classifier is true but {init} has "
                              f"{len(pcfg['class_names'])} classes and the data "
                              f"{len(class_names)} (or other names); set it to auto or false")
    parts = ["backbone"] + (["classifier"] if same_classes and keep in (True, "auto") else [])
    if "classifier" in parts and model.classifier_kind != arch["classifier"]:
        parts.remove("classifier")
    assign_inference_weights(model, tensors, str(init), parts)
    if hasattr(model, "sync_key_encoder"):        # MoCo: the key encoder starts as a copy
        model.sync_key_encoder()
    what = " and ".join(parts)
    return (f"initialised the {what} from {init} ({source}: {directory})"
            + ("" if "classifier" in parts else f"; new {model.num_classes}-class classifier")
            + resized)
