#!/usr/bin/env python
"""Training-step throughput of the ResNet-32 multi-view step: keras_lt on each
Keras backend next to a pure-PyTorch eager implementation, in one run.

The step (both sides identical): V augmented views of a batch of B CIFAR images
are concatenated (V*B images) and go through ResNet-32 -> projection head
(64-512-128, L2-normalised) and a cosine classifier (scale 1/0.03); the loss is
logit-adjusted cross-entropy on every view's logits plus a cosine alignment
term between the views' projections; SGD with momentum 0.9 and L2 weight decay
2e-4. Data are synthetic and already in memory: this measures the step alone
(``bench_pipeline.py`` measures the input pipeline).

    python benchmarks/bench_train_step.py                    # all backends, B=128, V=2
    python benchmarks/bench_train_step.py --backends torch jax --steps 10
    python benchmarks/bench_train_step.py --backends torch torch-generic   # fast path on / off
    python benchmarks/bench_train_step.py --backends jax jax-reference     # keras-lt vs pure JAX

Each backend runs in its own subprocess (a backend is fixed at import time), with the same
thread settings; the sides are interleaved (reference, torch, tensorflow, jax, reference, ...)
for ``--rounds`` rounds and the medians compared. Printed: images/s (V*B images per step) and
the ratio keras_lt / pure PyTorch (>1 = faster).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def synthetic(batch, views, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(batch, 32, 32, 3)).astype("float32") for _ in range(views)]
    y = rng.integers(0, 10, size=batch).astype("int32")
    return xs, y


def reference_log_prior():
    """log(n_c / n) of :data:`COUNTS`, float32: the logit adjustment of the pure references."""
    import numpy as np

    counts = np.asarray(COUNTS, dtype=np.float64)
    return np.log(counts / counts.sum()).astype("float32")


def time_steps(step, warmup, steps, sync=lambda out: None):
    for _ in range(warmup):
        sync(step())
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step()
    sync(out)
    return (time.perf_counter() - t0) / steps


def run_torch_reference(args):
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from torch_reference import ResNet32, make_step

    torch.manual_seed(0)
    model = ResNet32(width=args.width).train()
    step = make_step(model)
    xs, y = synthetic(args.batch_size, args.views)
    views = [torch.from_numpy(x).permute(0, 3, 1, 2).contiguous() for x in xs]
    labels = torch.from_numpy(y).long()
    log_prior = torch.from_numpy(reference_log_prior())
    sec = time_steps(lambda: step(views, labels, log_prior), args.warmup, args.steps,
                     sync=lambda out: float(out))
    return {"name": "pure PyTorch eager", "sec_per_step": sec, "threads": torch.get_num_threads()}


def run_jax_reference(args):
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from jax_reference import init_params, make_step

    params = init_params(0)
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)
    step = make_step()
    xs, y = synthetic(args.batch_size, args.views)
    views = tuple(jnp.asarray(x) for x in xs)
    labels = jnp.asarray(y)
    log_prior = jnp.asarray(reference_log_prior())
    state = [params, velocity]

    def one():
        state[0], state[1], loss = step(state[0], state[1], views, labels, log_prior)
        return loss

    sec = time_steps(one, args.warmup, args.steps, sync=lambda out: float(out))
    return {"name": "pure JAX (jit)", "sec_per_step": sec}


def run_keras(args):
    import keras
    from keras import ops

    sys.path.insert(0, str(ROOT))
    from keras_lt.backbones import get_backbone
    from keras_lt.layers import CosineClassifier, ProjectionHead
    from keras_lt.losses import log_class_prior, logit_adjusted_cross_entropy
    from keras_lt.models import l2_penalty

    log_prior = log_class_prior(COUNTS).astype("float32")
    V = args.views

    class MultiView(keras.Model):
        def __init__(self):
            super().__init__()
            self.backbone = get_backbone("resnet32", input_shape=(32, 32, 3),
                                         **({"width": args.width} if args.width != 1 else {}))
            self.head = ProjectionHead(512, 128)
            self.fc = CosineClassifier(10, scale=1 / 0.03)

        def call(self, views, training=False):
            x = ops.concatenate(list(views), axis=0)
            f = self.backbone(x, training=training)
            return self.head(f, training=training), self.fc(f)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            z, logits = y_pred
            yy = ops.tile(ops.reshape(y, (-1,)), (V,))
            loss = logit_adjusted_cross_entropy(yy, logits, log_prior, 1.0)
            zs = ops.split(z, V, axis=0)
            align = sum(ops.mean(1.0 - ops.sum(zs[0] * zs[v], axis=1)) for v in range(1, V))
            loss = loss + align / max(V - 1, 1)
            return loss + l2_penalty(self.trainable_variables, 2e-4)

    keras.utils.set_random_seed(0)
    model = MultiView()
    xs, y = synthetic(args.batch_size, V)
    model(tuple(xs[:1] * V))
    jit = {"auto": keras.backend.backend() == "jax", "on": True, "off": False}[args.jit]
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=jit)
    data = (tuple(xs), y)
    sec = time_steps(lambda: model.train_on_batch(*data), args.warmup, args.steps)
    generic = " (generic)" if os.environ.get("KERAS_LT_TORCH_FAST_PATH") == "0" else ""
    return {"name": f"keras_lt / {keras.backend.backend()}{generic}", "sec_per_step": sec,
            "jit_compile": jit}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"],
                   help="keras-lt backends (torch, torch-generic, tensorflow, jax) and "
                        "jax-reference: the same step in pure JAX (benchmarks/jax_reference.py)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--width", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (medians reported)")
    p.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                   help="jit_compile for keras (auto: on for jax only, as tools/train.py)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        run = {"reference": run_torch_reference, "jax-reference": run_jax_reference}.get(
            args.worker, run_keras)
        result = run(args)
        print("RESULT " + json.dumps(result))
        return

    images = args.batch_size * args.views
    print(f"ResNet-32 multi-view train step: batch {args.batch_size} x {args.views} views "
          f"= {images} images/step, width {args.width}, {args.steps} timed steps after "
          f"{args.warmup} warm-up, {args.rounds} interleaved rounds; {os.cpu_count()} CPU cores")
    runs = {}
    names = {}
    passthrough = [a for a in sys.argv[1:] if a]
    for r in range(args.rounds):
        for worker in ["reference"] + args.backends:
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            if worker not in ("reference", "jax-reference"):
                # torch-generic: keras-lt on torch without its fast path (Keras' generic ops)
                env["KERAS_BACKEND"] = worker.split("-")[0]
                env["KERAS_LT_TORCH_FAST_PATH"] = "0" if worker == "torch-generic" else "1"
            cmd = [sys.executable, __file__, "--worker", worker] + passthrough
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                print(f"{worker}: FAILED\n{proc.stderr[-2000:]}")
                continue
            res = json.loads(line[-1][7:])
            names[worker] = res["name"]
            runs.setdefault(worker, []).append(images / res["sec_per_step"])
            print(f"  round {r + 1} {res['name']:<24} {res['sec_per_step'] * 1000:8.1f} ms/step "
                  f"{images / res['sec_per_step']:8.1f} images/s", flush=True)
    median = {w: statistics.median(v) for w, v in runs.items()}
    print("medians (images/s):")
    for w, v in median.items():
        print(f"  {names[w]:<24} {v:8.1f}")
    ref = median.get("reference")
    if ref:
        print("ratio keras_lt / pure PyTorch eager (images/s; >1 is faster):")
        for b in args.backends:
            if b in median:
                print(f"  {b:<12} {median[b] / ref:.2f}")
    if "jax" in median and "jax-reference" in median:
        print(f"ratio keras_lt on JAX / pure JAX (jit): {median['jax'] / median['jax-reference']:.2f}")

if __name__ == "__main__":
    main()
