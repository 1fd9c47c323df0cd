"""Checks and upload of a pretrained folder (``tools/publish.py``)."""

from pathlib import Path

from keras_lt.hub.pretrained import (CARD_FILE, CONFIG_FILE, KERAS_WEIGHTS_FILE, METADATA_FILE,
                                     WEIGHTS_FILE, PretrainedError, read_pretrained_config)

#: file types that can carry pickled code; never uploaded
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".tar", ".npy", ".npz")


def parse_card(path):
    """The card's metadata as a dict and its eval results, parsed with huggingface_hub's
    ModelCard (raises PretrainedError when the card or its model-index is malformed)."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard.load(path)
        data = card.data.to_dict()
        results = card.data.eval_results or []
    except Exception as exc:        # the parser raises ValueError / YAMLError variants
        raise PretrainedError(f"{path}: invalid model card: {exc}") from None
    return data, results


def check_folder(folder):
    """Validate a folder for upload; returns ``[(relative path, bytes)]``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PretrainedError(f"no such folder: {folder}")
    read_pretrained_config(folder)
    for required in (CONFIG_FILE, METADATA_FILE, KERAS_WEIGHTS_FILE, WEIGHTS_FILE, CARD_FILE):
        if not (folder / required).is_file():
            raise PretrainedError(f"{folder} lacks {required}")
    parse_card(folder / CARD_FILE)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    bad = [p.name for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    if bad:
        raise PretrainedError(f"{folder} holds files that may contain pickles: {bad}; remove them")
    return [(str(p.relative_to(folder)), p.stat().st_size) for p in files]


def publish(folder, repo_id, revision=None, private=False, dry_run=False, commit_message=None):
    """Upload ``folder`` to the Hub repository ``repo_id`` (created if needed); with
    ``dry_run`` only return what would be uploaded."""
    files = check_folder(folder)
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                      commit_message=commit_message or f"keras-lt: upload {Path(folder).name}")
    return files
