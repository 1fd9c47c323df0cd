"""The ``hf`` source: a Hugging Face ``datasets`` dataset (saved to disk, local
parquet or image-folder files, or a hub name)."""

from pathlib import Path

import numpy as np

from keras_lt.data.sources.base import DataPreparationError, Source, SourceSplit


def hf_source(input_path, hf_name, hf_config, image_column, label_column, progress):
    try:
        import datasets
    except ImportError as e:
        raise DataPreparationError("source hf needs the 'datasets' package (pip install datasets)") from e
    if input_path is None and hf_name is None:
        raise DataPreparationError("source hf needs --input <saved dataset / data dir> or --hf-name")
    try:
        if input_path is not None:
            p = Path(input_path)
            if not p.exists():
                raise DataPreparationError(f"hf input {p} does not exist")
            if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
                ds, how = datasets.load_from_disk(str(p)), "load_from_disk"
            elif p.is_file() and p.suffix == ".parquet":
                ds, how = datasets.load_dataset("parquet", data_files=str(p)), "parquet"
            elif p.is_dir() and any(p.rglob("*.parquet")):
                ds, how = datasets.load_dataset("parquet", data_dir=str(p)), "parquet"
            else:
                ds, how = datasets.load_dataset("imagefolder", data_dir=str(p)), "imagefolder"
            location = p
        else:
            ds, how = datasets.load_dataset(hf_name, hf_config), "hub"
            location = hf_name
    except DataPreparationError:
        raise
    except Exception as e:   # datasets raises many types (connection, file-not-found...)
        raise DataPreparationError(f"cannot load the Hugging Face dataset "
                                   f"{input_path or hf_name}: {type(e).__name__}: {e}") from e
    if isinstance(ds, datasets.Dataset):
        ds = datasets.DatasetDict({"train": ds})
    name_map = {"train": "train", "test": "test", "validation": "val", "val": "val", "valid": "val"}
    parts = {name_map[k]: v for k, v in ds.items() if k in name_map}
    if "train" not in parts:
        raise DataPreparationError(f"Hugging Face dataset {location} has no 'train' split "
                                   f"(splits: {', '.join(ds.keys())})")
    features = parts["train"].features
    if image_column is None:
        image_column = next((c for c in ("img", "image") if c in features),
                            next((c for c, f in features.items()
                                  if isinstance(f, datasets.Image)), None))
    if image_column is None or image_column not in features:
        raise DataPreparationError(f"Hugging Face dataset {location}: no image column "
                                   f"(columns: {', '.join(features)}); pass --hf-image-column")
    if label_column is None:
        label_column = next((c for c in ("label", "fine_label", "labels") if c in features),
                            next((c for c, f in features.items()
                                  if isinstance(f, datasets.ClassLabel)), None))
    if label_column is None or label_column not in features:
        raise DataPreparationError(f"Hugging Face dataset {location}: no label column "
                                   f"(columns: {', '.join(features)}); pass --hf-label-column")
    label_feature = features[label_column]
    if isinstance(label_feature, datasets.ClassLabel):
        names = list(label_feature.names)
    else:
        top = max(int(np.max(np.asarray(d[label_column]))) for d in parts.values() if len(d))
        names = [str(i) for i in range(top + 1)]
    is_image = isinstance(features[image_column], datasets.Image)

    splits = {}
    for k, d in parts.items():
        labels = np.asarray(d[label_column], dtype=np.int64)
        if is_image:
            d = d.cast_column(image_column, datasets.Image(decode=False))

        def fetch(i, d=d):
            v = d[int(i)][image_column]
            if is_image:
                if v.get("bytes") is not None:
                    return v["bytes"]
                if v.get("path"):
                    return Path(v["path"]).read_bytes()
                raise ValueError("image has neither bytes nor path")
            return np.asarray(v)

        splits[k] = SourceSplit(labels, fetch, (lambda k: lambda i: f"{location} [{k}][{i}]")(k),
                                origin=f"{location} ({k})")
    fp = getattr(parts["train"], "_fingerprint", None)
    return Source("hf", location, names, splits, encoded=True,
                  checksum={"algo": "hf-fingerprint", "value": fp} if fp else None,
                  notes={"loader": how, "image_column": image_column,
                         "label_column": label_column,
                         "source_index": "row of the Hugging Face split"})
