#!/usr/bin/env python
"""Does the input pipeline keep up with the training step? (this machine, CPU)

(a) pipeline alone: images/s of ``MultiViewLoader`` over synthetic uint8
    32x32 CIFAR-like images for each view recipe and workers 0/1/2
    (an "image" = one sample, all its views);
(b) training step alone: ``model.train_on_batch`` images/s of a ResNet-32
    (``keras_lt.backbones.get_backbone('resnet32')`` + linear head; a small
    conv net if the backbone is not available -- said in the output) on the
    current KERAS_BACKEND, batch B x V views concatenated, synthetic data;
(c) ratio pipeline / train per recipe (>1: the pipeline keeps up).
Also: one op of Keras' own augmentation layers (RandAugment on a batch) next
to ours, to back the choice of PIL (see keras_lt/data/transforms.py).

    KERAS_BACKEND=torch python benchmarks/bench_pipeline.py
    python benchmarks/bench_pipeline.py --steps 5 --batch-size 128 --views cifar_basic
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from keras_lt.data.augment import make_view  # noqa: E402
from keras_lt.data.pipeline import make_loader  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
RECIPES = {
    "cifar_basic": ["cifar_basic"],
    "cifar_autoaug": ["cifar_autoaug"],
    "bccl_2view": ["cifar_autoaug", "cifar_simaug"],
}


class SyntheticSplit:
    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 100, n).astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def get_batch(self, idx):
        return self.images[np.asarray(idx)]

    def get_image(self, i):
        return self.images[i]


def bench_pipeline(views, batch_size, workers, n_batches):
    split = SyntheticSplit(batch_size * n_batches)
    ld = make_loader(split, views, batch_size, MEAN, STD, workers=workers)
    ld[0]  # warm-up (thread start)
    t = time.perf_counter()
    for i in range(1, len(ld)):
        ld[i]
    dt = time.perf_counter() - t
    ld.close()
    return (len(ld) - 1) * batch_size / dt


def build_model(n_views):
    note = "resnet32 from keras_lt.backbones"
    try:
        from keras_lt.backbones import get_backbone
        backbone = get_backbone("resnet32", input_shape=(32, 32, 3))
    except Exception as e:  # backbone not written yet
        note = f"FALLBACK small conv net (resnet32 unavailable: {type(e).__name__}: {e})"
        backbone = keras.Sequential([
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
        ])
    inp = keras.Input((32, 32, 3))
    feat = backbone(inp)
    if len(feat.shape) == 4:
        feat = keras.layers.GlobalAveragePooling2D()(feat)
    model = keras.Model(inp, keras.layers.Dense(100)(feat))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, note


def bench_train(batch_size, n_views, steps, warmup=3):
    model, note = build_model(n_views)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size * n_views, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 100, batch_size * n_views).astype(np.int32)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    t = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    dt = time.perf_counter() - t
    return steps * batch_size / dt, note  # samples (each with n_views views) per s


def bench_keras_randaugment(batch_size):
    """Keras' RandAugment layer on one batch vs our AutoAugment view (same batch)."""
    imgs = SyntheticSplit(batch_size).images
    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5)
    x = keras.ops.convert_to_tensor(imgs.astype("float32"))
    layer(x)  # warm-up
    t = time.perf_counter()
    for _ in range(3):
        keras.ops.convert_to_numpy(layer(x))
    keras_s = (time.perf_counter() - t) / 3
    view = make_view("cifar_autoaug", MEAN, STD)
    t = time.perf_counter()
    for s in range(3):
        view(imgs, np.random.default_rng(s))
    ours_s = (time.perf_counter() - t) / 3
    return keras_s, ours_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5, help="timed train steps")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--views", nargs="+", default=list(RECIPES),
                    help=f"recipes ({', '.join(RECIPES)}) or view names")
    ap.add_argument("--pipeline-batches", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--no-keras-layer", action="store_true")
    args = ap.parse_args()
    bs = args.batch_size
    print(f"backend={keras.backend.backend()} cpus={os.cpu_count()} batch={bs}")

    best = {}
    print("\n(a) pipeline alone [samples/s]")
    for name in args.views:
        views = RECIPES.get(name, [name])
        rates = {w: bench_pipeline(views, bs, w, args.pipeline_batches) for w in args.workers}
        best[name] = (views, max(rates.values()))
        print(f"  {name:14s} {'+'.join(views):28s} "
              + "  ".join(f"w{w}={r:8.0f}" for w, r in rates.items()))

    print("\n(b) train step alone (train_on_batch) [samples/s]")
    train = {}
    for nv in sorted({len(v) for v, _ in best.values()}):
        rate, note = bench_train(bs, nv, args.steps)
        train[nv] = rate
        print(f"  views={nv} (batch {bs}x{nv}): {rate:8.0f}   [{note}]")

    print("\n(c) ratio pipeline(best workers) / train  (>1 = pipeline keeps up)")
    for name, (views, rate) in best.items():
        print(f"  {name:14s} {rate / train[len(views)]:6.2f}")

    if not args.no_keras_layer:
        k, o = bench_keras_randaugment(bs)
        print(f"\nkeras.layers.RandAugment on a {bs}-batch: {k * 1e3:.1f} ms; "
              f"our cifar_autoaug view (PIL, 1 thread): {o * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
