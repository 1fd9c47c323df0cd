"""Model cards, generated: every number on a card comes from the evaluation
reports and the recipe saved beside the weights, so card and checkpoint cannot drift.

:func:`render_card` returns the ``README.md`` of a pretrained folder: YAML metadata
the Hub understands (``library_name``, ``license``, ``tags``, ``datasets``,
``base_model``, ``model-index`` with top-1, class-average and many/medium/few-shot
accuracy for each evaluated split) and a body with the method, results, recipe,
budget and hardware, data provenance, usage and limitations.
"""

import shlex

import yaml

from keras_lt.config import load_config
from keras_lt.hub.paper_results import paper_result
from keras_lt.data.catalog import CATALOG
from keras_lt.hub.registry import hub_org, zoo_recipe
from keras_lt.models.registry import get_method
from keras_lt.options import METHOD_OPTIONS

#: converted releases of methods keras-lt does not train (method token -> title, citation)
CONVERTED_ONLY = {
    "bcl": ("BCL: Balanced Contrastive Learning",
            "Zhu, Wang, Chen, Chen & Jiang, *Balanced Contrastive Learning for Long-Tailed Visual "
            "Recognition*, CVPR 2022"),
}
#: (report key, metric type on the Hub's model-index, readable name)
METRICS = (("top1", "accuracy", "top-1"),
           ("class_avg", "class_average_accuracy", "class-average"),
           ("many", "many_shot_accuracy", "many-shot"),
           ("medium", "medium_shot_accuracy", "medium-shot"),
           ("few", "few_shot_accuracy", "few-shot"))


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def method_of(recipe):
    """(title, citation, ablation note or None) of a recipe, from its registered method."""
    try:
        return get_method(recipe.get("method", "baseline")).describe(recipe)
    except ValueError:
        return recipe.get("method"), "see the recipe", None


def dataset_of(recipe, metadata=None):
    """(Hub dataset id, readable title) of the data a recipe was trained on, or (None, None):
    the benchmark from the recipe's ``data.dataset``, the imbalance factor from its
    ``data.imbalance_factor``, else from the prepared data's provenance in ``metadata``."""
    data = recipe.get("data") or {}
    info = CATALOG.get(data.get("dataset"))
    if info is None:
        return None, None
    imb = data.get("imbalance_factor") or ((metadata or {}).get("data_provenance") or {}).get(
        "imbalance_factor")
    title = f"{info.title} (imbalance factor {imb:g})" if imb else info.title
    return info.hub_id, title


def conversion_of(metadata):
    """The conversion record of a folder converted from an official release, or None."""
    return (metadata or {}).get("training", {}).get("conversion")


def card_metadata(config, eval_report, metadata=None):
    """The card's YAML metadata (a dict)."""
    name = config["name"]
    hub_dataset, title = dataset_of(config["recipe"], metadata)
    method = config.get("method", "baseline")
    conv = conversion_of(metadata)
    token = conv["source_method"] if conv else config["recipe"]["name"].split("-")[0]
    tags = ["keras", "keras-lt", "image-classification", "long-tailed-recognition",
            token.replace("_", "-")]
    if get_method(method).pairs:
        tags.append("supervised-contrastive-learning")
    meta = {"library_name": "keras", "license": "apache-2.0", "pipeline_tag": "image-classification",
            "tags": tags}
    if conv:      # the authors' weights: their repository's license applies
        tags.append("converted-from-pytorch")
        meta.update({"license": "other", "license_name": "see-source-repository",
                     "license_link": f"https://github.com/{conv['code']}"})
    if hub_dataset:
        meta["datasets"] = [hub_dataset]
    if config.get("base_model"):
        meta["base_model"] = config["base_model"]
    results = []
    for split, report in eval_report.items():
        metrics = [{"type": kind, "name": label, "value": round(100 * report[key], 2)}
                   for key, kind, label in METRICS if report.get(key) is not None]
        results.append({"task": {"type": "image-classification",
                                 "name": "Long-tailed image classification"},
                        "dataset": {"type": hub_dataset or "custom", "name": title or name,
                                    "split": split},
                        "metrics": metrics})
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    return meta


def recipe_overrides(recipe):
    """``--set`` overrides that turn the zoo recipe ``zoo_configs/<name>.yaml`` into
    ``recipe`` (empty when the zoo recipe is unknown or identical). The settings sections
    of the methods the recipe does not use are not compared."""
    base = zoo_recipe(recipe["name"])
    if base is None:
        return []
    out = []

    def walk(a, b, prefix):
        for key in b:
            if isinstance(b[key], dict) and isinstance(a.get(key), dict):
                walk(a[key], b[key], f"{prefix}{key}.")
            elif a.get(key) != b[key]:
                value = yaml.safe_dump(b[key], default_flow_style=True).strip()
                value = value[:-4].strip() if value.endswith("\n...") or value.endswith("...") else value
                out.append(f"{prefix}{key}={value}")
    unused = {m for m in METHOD_OPTIONS if m != recipe.get("method", "baseline")}
    walk(base, {k: v for k, v in recipe.items() if k not in unused}, "")
    return out


def _budget_lines(recipe, training):
    optim = recipe["optim"]
    lines = [f"- Epochs: {training.get('epochs', optim['epochs'])} (selected: epoch "
             f"{training.get('best_epoch', '?')} by {training.get('selected_on', 'validation')}); "
             f"batch {optim['batch_size']}, SGD momentum {optim['momentum']}, lr {optim['lr']} "
             f"(warm-up {optim['warmup_epochs']} epochs, cosine), weight decay {optim['weight_decay']}"]
    last = training.get("last_epoch_test")
    if last and last.get("top1") is not None:
        lines.append(f"- Last epoch ({last.get('epoch', '?')}) on the test split: top-1 "
                     f"{100 * last['top1']:.2f}, class-average {100 * last['class_avg']:.2f} "
                     f"(papers whose code keeps the best test epoch compare with either)")
    hw = training.get("hardware")
    if hw:
        lines.append(f"- Hardware: {hw}; backend {training.get('backend', '?')}, "
                     f"Keras {training.get('keras', '?')}")
    if training.get("train_seconds"):
        secs = float(training["train_seconds"])
        ips = training.get("images_per_s")
        lines.append(f"- Wall time: {secs / 3600:.2f} h of training"
                     + (f" ({ips:.0f} images/s)" if ips else ""))
    return lines


def _provenance_lines(provenance):
    if not provenance:
        return ["- Not recorded."]
    lines = []
    src = provenance.get("source")
    if src:
        lines.append(f"- Source: `{src}` ({provenance.get('source_kind', '?')})")
    chk = provenance.get("source_checksum")
    if chk:
        lines.append(f"- Source checksum: {chk.get('algo')} `{chk.get('value')}`")
    if provenance.get("imbalance_factor"):
        lines.append(f"- Long-tailed subset: imbalance factor {provenance['imbalance_factor']:g}, "
                     f"exponential profile (Cao et al. 2019), selection seed "
                     f"{provenance.get('seed')}; validation: up to {provenance.get('val_per_class')} "
                     f"images per class from the source's training images the subset leaves "
                     f"out (none for a class the subset uses whole)")
    if "jpg" in str(src).lower() or "jpeg" in str(src).lower():
        lines.append("- **Pixels are JPEG-compressed** (the CIFAR-10 JPEG export available to "
                     "us), not the original PNG/pickle pixels the papers use; expect small "
                     "differences from published numbers for that reason")
    if provenance.get("command"):
        lines.append(f"- Prepared with: `python {provenance['command']}`")
    return lines


def _source_lines(conv, metadata, recipe, training):
    """The "Source" section of a card converted from an official release."""
    overrides = recipe_overrides(recipe)
    url = f", downloaded from <{conv['source_url']}>" if conv.get("source_url") else ""
    ignored = ", ".join(f"`{k}`" for k in conv.get("tensors_ignored", [])) or "none"
    return [f"- Release file: `{conv['source_file']}` (sha256 `{conv['source_sha256']}`, "
            f"{conv['source_bytes']:,} bytes){url}",
            f"- Reference code: <https://github.com/{conv['code']}>; paper: {conv['paper']}",
            f"- Converted with keras-lt {metadata.get('keras_lt', '?')} on the "
            f"{training.get('backend', '?')} backend: `{conv['command']}`",
            f"- {conv['tensors_assigned']} tensors copied (classifier: "
            f"{conv['classifier_layout']}); not copied: {ignored}",
            "- The projection head was " + ("converted too, so `for_training=True` continues "
                                           "training from it (queues and centroids start empty: "
                                           "the release holds none)" if conv.get("head_converted")
                                           else "not in the release"),
            f"- Preprocessing and fine-tuning settings: `zoo_configs/{recipe['name']}.yaml`"
            + (f" with overrides `{' '.join(overrides)}`" if overrides else "")
            + f" (hash `{metadata.get('recipe_hash', '?')}`); the authors' own training run is "
            f"described in their repository, not re-run here",
            "- The conversion code is tested against the BCCL reference code's ResNet-32 outputs "
            "and against torch's own ops for ResNet-50 / ResNeXt-50, on every backend "
            "(`tests/test_convert_torch.py`)"]


def _paper_lines(name, eval_report):
    """The paper's figure for this exact setting beside the card's test top-1."""
    ref = paper_result(name)
    if ref is None:
        return []
    line = (f"Published figure for this setting: **{ref.top1:.2f}** top-1 ({ref.source}; "
            f"{ref.setting}).")
    test = (eval_report or {}).get("test")
    if test and test.get("top1") is not None:
        ours = 100 * test["top1"]
        line += f" This checkpoint: {ours:.2f}, a gap of {ours - ref.top1:+.2f} points."
    return ["", line]


def render_card(config, metadata, eval_report, images=()):
    """The model card (README.md text) of a pretrained folder."""
    conv = conversion_of(metadata)
    front = yaml.safe_dump(card_metadata(config, eval_report, metadata), sort_keys=False)
    lines = ["---", front.rstrip(), "---", "", f"# {config['name']}", ""]
    lines += _intro_lines(config, metadata, conv)
    lines += ["", "## Results", ""] + _results_lines(eval_report)
    lines += _paper_lines(config["name"], eval_report)
    for img in images:
        lines += ["", f"![{img}]({img})"]
    if conv:
        lines += ["", "## Source", ""] + _source_lines(conv, metadata, config["recipe"],
                                                       metadata.get("training", {}))
    else:
        lines += ["", "## Training", ""] + _training_lines(config, metadata)
    lines += [f"- Parameters (backbone + classifier): {metadata.get('parameters', '?'):,}"
              if isinstance(metadata.get("parameters"), int) else "- Parameters: ?"]
    lines += ["", "## Data", ""] + _provenance_lines(metadata.get("data_provenance"))
    counts = config["class_counts"]
    if conv:
        lines.append(f"- Classes and training counts from: {conv['classes_from']}")
    lines += [f"- Training images per class: {', '.join(str(c) for c in counts[:20])}"
              + (" ..." if len(counts) > 20 else "") + f" ({sum(counts)} in all)"]
    lines += _use_lines(config["name"], conv)
    lines += ["", "## Limitations", ""] + _limitation_lines(config, metadata, eval_report, conv)
    return "\n".join(lines) + "\n"


def _intro_lines(config, metadata, conv):
    """What the model is: method, backbone, data, and where the weights come from."""
    recipe = config["recipe"]
    title, citation, ablation = method_of(recipe)
    if conv:
        source = conv["source_method"]
        title, citation = (CONVERTED_ONLY[source] if source in CONVERTED_ONLY else
                           get_method(source).describe({})[:2])
        ablation = None
    _, data_title = dataset_of(recipe, metadata)
    arch = config["architecture"]
    what = (f"**{title}** ({citation}) with a {arch['backbone']} backbone and a "
            f"{arch['classifier']} classifier")
    if conv:
        intro = (f"{what}, trained on {data_title or 'a long-tailed dataset'} by the authors "
                 f"of the reference code (`{conv['code']}`) and converted to keras-lt from "
                 f"their PyTorch release `{conv['source_file']}`. The weights are theirs; it runs "
                 f"on the torch, TensorFlow and JAX backends of Keras 3.")
    else:
        intro = (f"{what}, trained on {data_title or 'a long-tailed dataset'} with keras-lt. "
                 f"It runs on the torch, TensorFlow and JAX backends of Keras 3.")
    lines = [intro]
    if ablation:
        lines += ["", f"This is an ablation: {ablation}."]
    if config.get("base_model"):
        lines += ["", f"Fine-tuned from `{config['base_model']}`."]
    return lines


def _results_lines(eval_report):
    if not eval_report:
        return ["Not evaluated."]
    lines = ["| split | images | top-1 | class-average | many-shot | medium-shot | few-shot |",
             "|---|---|---|---|---|---|---|"]
    for split, r in eval_report.items():
        lines.append(f"| {split} | {r.get('num_samples', '?')} | {_pct(r.get('top1'))} | "
                     f"{_pct(r.get('class_avg'))} | {_pct(r.get('many'))} | "
                     f"{_pct(r.get('medium'))} | {_pct(r.get('few'))} |")
    return lines + ["", "Shot groups by training images per class: many > 100, medium 20–100, "
                    "few < 20 (a dash: no class in the group). Numbers from `eval_results.json`."]


def _training_lines(config, metadata):
    """Budget, the recipe and the command that reproduces the checkpoint."""
    name, recipe = config["name"], config["recipe"]
    training = metadata.get("training", {})
    lines = _budget_lines(recipe, training)
    overrides = recipe_overrides(recipe)
    cmd = f"python tools/train.py --config zoo_configs/{name}.yaml"
    cmd += "".join(f" --set {shlex.quote(o)}" for o in overrides)
    cmd += f" --run-dir runs/{name} --backend {training.get('backend', 'torch')}"
    lines += [f"- Recipe: `zoo_configs/{name}.yaml` (hash `{metadata.get('recipe_hash', '?')}`)"
              + (f" with overrides `{' '.join(map(shlex.quote, overrides))}`" if overrides else ""),
              f"- Reproduce: `{cmd}`"]
    if training.get("note"):
        lines.append(f"- Why it departs from the recipe: {training['note']}")
    return lines


def _use_lines(name, conv):
    load_as = f"./{name}" if conv else name
    keras_path = f"./{name}" if conv else f"hf://{hub_org()}/{name}"
    return ["", "## Use", "", "The folder is Keras' own model format; the model takes raw RGB "
            "images (uint8 or 0-255 floats, any size) and carries its preprocessing and class "
            "names.", "", "```python", "import keras", "import keras_lt   # registers the "
            "classes", "",
            f'model = keras_lt.from_pretrained("{load_as}")       # any Keras backend',
            f'# or: model = keras.saving.load_model("{keras_path}")',
            'keras_lt.predict(model, ["image.jpg"], top_k=3)   # labels + probabilities',
            "logits = model.predict(images)                     # (N, H, W, 3) uint8",
            "```", "", "Fine-tune on your own long-tailed data (a prepared dataset, see the "
            "keras-lt README):", "", "```bash",
            f"keras-lt train --init {load_as} --data data_cache/my-dataset --run-dir runs/my-ft",
            "```"]


def _limitation_lines(config, metadata, eval_report, conv):
    name, recipe = config["name"], config["recipe"]
    training = metadata.get("training", {})
    lim = []
    if conv:
        lim.append("These are the authors' weights: the license and terms of "
                   f"<https://github.com/{conv['code']}> apply.")
        lim.append("The numbers above are keras-lt's evaluation of the converted weights with "
                   "the recipe's preprocessing, not the paper's table." if eval_report else
                   "Not evaluated here: no test images were given to the conversion.")
    elif training.get("epochs") and training["epochs"] < _zoo_epochs(name, recipe):
        lim.append(f"Trained for {training['epochs']} epochs, a fraction of the paper's "
                   f"{_zoo_epochs(name, recipe)}-epoch schedule (compute budget); accuracy is "
                   f"below what the full schedule reaches.")
    if not conv:
        lim.append("Model selection used the validation split only (small: see Data); test "
                   "numbers were measured once, after selection.")
    lim.append("Long-tailed benchmarks measure balanced test accuracy; real deployments have "
               "other label distributions and domain shifts.")
    return [f"- {x}" for x in lim]


def _zoo_epochs(name, recipe):
    zoo = zoo_recipe(name)
    return int((zoo or recipe)["optim"]["epochs"])
