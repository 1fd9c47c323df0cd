#!/usr/bin/env python
"""Cost of BCCL's extras next to a plain SupCon step and a ResNet-50 step, in one run.

BCCL adds to a supervised-contrastive step (a) the class-wise queue update
(eq. 3), (b) the k-means refresh of every queue (eq. 4), (c) a larger contrast
set: the C*k centroids join the batch in the class-complement SCL (eq. 6) and
in the centroid loss (eq. 5). This script measures, for C classes, M slots, d
dimensions and k centroids:

* ``supcon``   -- a train step (loss + gradient + SGD update) whose only
  parameters are the 2 x B projections, with the plain SupCon loss: the
  loss-side work of a SupCon step, without any backbone;
* ``bccl``     -- the same step with BCCL's losses (eq. 6 + 0.1 * eq. 5 against
  C*k centroids) and the queue update (2 x B features written);
* ``kmeans``   -- one refresh: batched k-means (20 Lloyd iterations) of all C
  queues of M features at once (:func:`keras_lt.layers.clustering.batched_kmeans`);
* ``resnet50`` -- a ResNet-50 train step on 224 x 224 images (SGD), measured at a
  small batch and scaled linearly to 2 x B images (stated in the output).

The extras per step are ``bccl - supcon`` plus the refresh amortised over its
schedule: the paper's (one refresh every 5 epochs) and the reference code's
(every step of every 10th epoch, i.e. 1/10 of the steps). Steps per epoch come
from ``--images-per-epoch`` (ImageNet-LT: 115,846 training images).

    python benchmarks/bench_bccl_overhead.py                       # torch, C = 10 .. 8142
    python benchmarks/bench_bccl_overhead.py --backend tensorflow --classes 10 1000
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fn()
    _ = out
    return (time.perf_counter() - t0) / steps


def worker(args):
    import keras
    import numpy as np
    from keras import ops

    sys.path.insert(0, str(ROOT))
    from keras_lt.layers.clustering import batched_kmeans
    from keras_lt.layers.queues import ClassQueue
    from keras_lt.losses.contrastive import (
        centroid_contrastive_loss, class_averaged_supcon_loss, supcon_loss)

    C, B, V, D, M, K = args.num_classes, args.batch_size, 2, args.dim, args.queue_size, args.k
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, size=B).astype("int32")

    def unit(*shape):
        x = rng.normal(size=shape).astype("float32")
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    class LossProbe(keras.Model):
        """The loss side of a contrastive step: parameters = the 2B projections."""

        def __init__(self, bccl):
            super().__init__()
            self.bccl = bccl
            self.z = self.add_weight(shape=(V * B, D), initializer="random_normal", name="z")
            if bccl:
                self.queue = ClassQueue(C, M, D)
                self.centroids = self.add_weight(shape=(C, K, D), trainable=False, name="mu")
                self.centroids.assign(unit(C, K, D))

        def call(self, x, training=False):
            return self.z

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            z = y_pred / ops.norm(y_pred, axis=-1, keepdims=True)
            feats = ops.transpose(ops.reshape(z, (V, B, D)), (1, 0, 2))     # (B, V, D)
            if not self.bccl:
                return supcon_loss(feats, y, 0.1, 0.1)
            mu = ops.convert_to_tensor(self.centroids)
            protos = ops.reshape(mu, (C * K, D))
            proto_labels = ops.repeat(ops.arange(C, dtype="int32"), K)
            loss = class_averaged_supcon_loss(feats, y, C, 0.1, protos, proto_labels)
            loss = loss + 0.1 * centroid_contrastive_loss(feats, y, mu, 0.1)
            self.queue.update(ops.stop_gradient(z), ops.tile(y, (V,)))
            return loss

    out = {"backend": keras.backend.backend(), "C": C, "B": B, "D": D, "M": M, "k": K}
    dummy = np.zeros((B, 1), "float32")
    for name, bccl in (("supcon", False), ("bccl", True)):
        probe = LossProbe(bccl)
        probe.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=args.jit)
        out[name] = _timed(lambda: probe.train_on_batch(dummy, labels), 2, args.steps)

    queue = ops.convert_to_tensor(unit(C, M, D))
    valid = ops.ones((C, M))
    noise = keras.random.uniform((C, M), seed=0)
    kmeans = batched_kmeans
    if args.jit and keras.backend.backend() == "jax":
        import jax

        kmeans = jax.jit(batched_kmeans, static_argnums=(1, 2))
    fn = (lambda: ops.convert_to_numpy(kmeans(queue, K, 20, valid, None, None, noise)[0]))
    out["kmeans"] = _timed(fn, 1, max(1, args.steps // 2))
    try:
        import resource
        out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    except ImportError:
        pass
    print("RESULT " + json.dumps(out), flush=True)


def resnet50_worker(args):
    import keras
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from keras_lt.models import LTClassifier

    n = args.resnet_batch
    model = LTClassifier("resnet50", num_classes=1000, input_shape=(224, 224, 3))
    model.build((None, 224, 224, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=args.jit)
    x = np.random.default_rng(0).normal(size=(n, 224, 224, 3)).astype("float32")
    y = np.arange(n, dtype="int32") % 1000
    sec = _timed(lambda: model.train_on_batch(x, y), 1, 2)
    print("RESULT " + json.dumps({"per_image": sec / n, "batch": n}), flush=True)


def run(args, extra):
    env = {**os.environ, "KERAS_BACKEND": args.backend}
    cmd = [sys.executable, __file__, *extra, "--backend", args.backend,
           "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--dim", str(args.dim), "--queue-size", str(args.queue_size), "--k", str(args.k),
           "--resnet-batch", str(args.resnet_batch)] + (["--jit"] if args.jit else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {' '.join(extra)} failed:\n{proc.stderr[-3000:]}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="torch", choices=["torch", "tensorflow", "jax"])
    p.add_argument("--classes", type=int, nargs="+", default=[10, 100, 1000, 8142])
    p.add_argument("--batch-size", type=int, default=128, help="B (2 views per sample)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queue-size", type=int, default=100)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--images-per-epoch", type=int, default=115846,
                   help="for amortising the refresh (default: ImageNet-LT train)")
    p.add_argument("--refresh-every", type=int, default=5, help="paper: epochs between refreshes")
    p.add_argument("--resnet-batch", type=int, default=8,
                   help="ResNet-50 is timed at this batch and scaled to 2 x B images")
    p.add_argument("--jit", action="store_true", help="jit_compile the steps")
    p.add_argument("--num-classes", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=["probe", "resnet50"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "probe":
        return worker(args)
    if args.worker == "resnet50":
        return resnet50_worker(args)

    steps_per_epoch = args.images_per_epoch // args.batch_size
    images = 2 * args.batch_size
    print(f"BCCL extras vs SupCon and ResNet-50, backend {args.backend}, jit {args.jit}, "
          f"B = {args.batch_size} x 2 views, d = {args.dim}, M = {args.queue_size}, "
          f"k = {args.k}; {os.cpu_count()} CPU cores", flush=True)
    r50 = run(args, ["--worker", "resnet50"])
    r50_step = r50["per_image"] * images
    print(f"ResNet-50 train step: {r50['per_image'] * 1e3:.0f} ms/image at batch "
          f"{r50['batch']} -> {r50_step:.1f} s for {images} images (linear scaling)", flush=True)
    print(f"refresh amortised over {steps_per_epoch} steps/epoch: paper = 1 per "
          f"{args.refresh_every * steps_per_epoch} steps; reference = every step of 1 epoch in 10")
    header = (f"{'C':>6} {'supcon ms':>10} {'bccl ms':>9} {'losses+queue':>12} {'k-means s':>10} "
              f"{'extras/step paper':>18} {'% R50 step':>10} {'extras ref. code':>16} "
              f"{'% R50':>7} {'peak GiB':>8}")
    print(header)
    for c in args.classes:
        r = run(args, ["--worker", "probe", "--num-classes", str(c)])
        extra_loss = r["bccl"] - r["supcon"]
        paper = extra_loss + r["kmeans"] / (args.refresh_every * steps_per_epoch)
        ref = extra_loss + r["kmeans"] / 10
        print(f"{c:>6} {r['supcon'] * 1e3:>10.1f} {r['bccl'] * 1e3:>9.1f} "
              f"{extra_loss * 1e3:>10.1f}ms {r['kmeans']:>10.3f} {paper * 1e3:>16.1f}ms "
              f"{100 * paper / r50_step:>9.2f}% {ref * 1e3:>14.1f}ms {100 * ref / r50_step:>6.2f}% "
              f"{r.get('peak_rss_gib', float('nan')):>8.2f}", flush=True)


if __name__ == "__main__":
    main()
