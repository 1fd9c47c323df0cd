"""The ``digits`` source: scikit-learn's bundled 8x8 digits, upsampled to 16x16
RGB and split into train and test (the offline demo)."""

import hashlib

import numpy as np

from keras_lt.data.sources.base import DataPreparationError, Source, SourceSplit

# digits: 16x16 RGB, IF 20 -> train counts 106 ... 5 (1 many, 5 medium, 4 few classes)
DIGITS_DEFAULT_IF = 20.0
DIGITS_SIZE = 16


def digits_source(seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataPreparationError("source digits needs scikit-learn (pip install scikit-learn)") from e
    d = load_digits()
    grey = np.rint(np.asarray(d.images, dtype=np.float64) * (255.0 / 16.0)).clip(0, 255)
    scale = DIGITS_SIZE // 8
    grey = grey.astype(np.uint8).repeat(scale, axis=1).repeat(scale, axis=2)  # nearest upsample
    images = np.repeat(grey[..., None], 3, axis=3)
    target = np.asarray(d.target, dtype=np.int64)
    # deterministic stratified split: per class (official order), a seeded permutation;
    # the first round(n/3) go to test, the rest form the train pool (kept in source order)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = np.where(target == c)[0]
        perm = rng.permutation(idx)
        k = int(round(len(idx) / 3))
        test_idx.append(np.sort(perm[:k]))
        train_idx.append(np.sort(perm[k:]))
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))

    def split(idx, name):
        return SourceSplit(target[idx], lambda i: images[idx[i]],
                           lambda i: f"sklearn digits [{idx[i]}]", source_index=idx,
                           origin=f"sklearn.datasets.load_digits ({name})")

    checksum = {"algo": "sha256", "value": hashlib.sha256(
        np.ascontiguousarray(d.images, dtype=np.float64).tobytes()
        + np.ascontiguousarray(target).tobytes()).hexdigest()}
    return Source("digits", "sklearn.datasets.load_digits", [str(i) for i in range(10)],
                  {"train": split(train_idx, "train"), "test": split(test_idx, "test")},
                  checksum=checksum, default_storage="raw",
                  notes={"digits": f"8x8 grey 0..16 -> {DIGITS_SIZE}x{DIGITS_SIZE} RGB uint8 "
                                   f"(x255/16, nearest upsampling); stratified split with "
                                   f"np.random.default_rng({seed}): 1/3 of each class to test"})
