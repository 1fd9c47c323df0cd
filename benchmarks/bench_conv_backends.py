#!/usr/bin/env python
"""Why JAX trains slowly on a CPU: one 3x3 convolution, forward + backward, per library.

ResNet-32's convolutions are 3x3 with 16, 32 and 64 channels at 32x32, 16x16 and 8x8 on batches
of 256 images (two views of 128). Each shape is timed as forward + gradient (input and kernel)
in ``jax.jit`` (XLA's CPU convolution, which is what keras-lt on JAX runs), in torch eager
(oneDNN, channels-first, what keras-lt's torch backend runs) and in TensorFlow eager (oneDNN,
channels-last), each in its own process with 2 threads, interleaved for ``--rounds`` rounds;
medians and the ratio to torch are printed, and the ResNet-32 total (each shape times the number
of such convolutions in the network)::

    .venv/bin/python benchmarks/bench_conv_backends.py --rounds 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

#: (height = width, channels, number of such 3x3 convs in ResNet-32, stride-1 ones)
SHAPES = ((32, 16, 11), (16, 32, 10), (8, 64, 10))


def timed(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def worker(lib, batch, warmup, steps):
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    for hw, c, _ in SHAPES:
        x = rng.normal(size=(batch, hw, hw, c)).astype("float32")
        k = rng.normal(size=(3, 3, c, c)).astype("float32") * 0.1
        if lib == "jax":
            import jax
            import jax.numpy as jnp

            def loss(x, k):
                y = jax.lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                return jnp.sum(y * y)

            step = jax.jit(jax.grad(loss, argnums=(0, 1)))
            xj, kj = jnp.asarray(x), jnp.asarray(k)
            sec = timed(lambda: jax.block_until_ready(step(xj, kj)), warmup, steps)
        elif lib == "torch":
            import torch

            torch.set_num_threads(2)
            xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().requires_grad_()
            kt = torch.from_numpy(k).permute(3, 2, 0, 1).contiguous().requires_grad_()

            def step():
                y = torch.nn.functional.conv2d(xt, kt, padding=1)
                return torch.autograd.grad((y * y).sum(), (xt, kt))

            sec = timed(step, warmup, steps)
        else:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(2)
            xt, kt = tf.constant(x), tf.Variable(k)

            def step():
                with tf.GradientTape() as tape:
                    tape.watch(xt)
                    y = tf.nn.conv2d(xt, kt, 1, "SAME")
                    s = tf.reduce_sum(y * y)
                return [g.numpy() for g in tape.gradient(s, [xt, kt])]

            sec = timed(step, warmup, steps)
        out[f"{hw}x{hw}x{c}"] = sec
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--libs", nargs="+", default=["torch", "tensorflow", "jax"])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.batch, args.warmup, args.steps)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="2")
    runs = {}
    for _ in range(args.rounds):
        for lib in args.libs:
            cmd = [sys.executable, __file__, "--worker", lib, "--batch", str(args.batch),
                   "--steps", str(args.steps), "--warmup", str(args.warmup)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                sys.exit(f"{lib} failed:\n{proc.stderr[-2000:]}")
            for shape, sec in json.loads(line[-1][7:]).items():
                runs.setdefault((lib, shape), []).append(sec)
    print(f"3x3 convolution forward + backward, batch {args.batch}, 2 threads, "
          f"{args.rounds} interleaved rounds, medians (ms); ratio = time / torch's")
    print("| shape (HxWxC) | " + " | ".join(args.libs) + " | " +
          " | ".join(f"{lib} / torch" for lib in args.libs if lib != "torch") + " |")
    print("|---" * (1 + len(args.libs) + len(args.libs) - 1) + "|")
    totals = {lib: 0.0 for lib in args.libs}
    for hw, c, n in SHAPES:
        shape = f"{hw}x{hw}x{c}"
        med = {lib: statistics.median(runs[(lib, shape)]) for lib in args.libs}
        for lib in args.libs:
            totals[lib] += n * med[lib]
        base = med.get("torch")
        print(f"| {shape} | " + " | ".join(f"{1000 * med[lib]:.1f}" for lib in args.libs) + " | " +
              " | ".join(f"{med[lib] / base:.2f}" for lib in args.libs if lib != "torch") + " |")
    base = totals.get("torch")
    print("| ResNet-32's 31 convs | " + " | ".join(f"{1000 * totals[lib]:.0f}" for lib in args.libs)
          + " | " + " | ".join(f"{totals[lib] / base:.2f}" for lib in args.libs if lib != "torch")
          + " |")


if __name__ == "__main__":
    main()
