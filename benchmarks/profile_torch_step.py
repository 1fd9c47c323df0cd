#!/usr/bin/env python
"""Where the time of a keras-lt training step goes on the torch backend (torch.profiler).

The BCCL ResNet-32 training step of ``tools/train.py`` (two views of a batch of 128, the recipe
``zoo_configs/bccl-resnet32-cifar10lt-if100.yaml``, synthetic images already in memory) is
profiled for ``--steps`` steps after ``--warmup``; printed: the share of CPU time per group of
operators (convolution, batch normalisation, layout copies, padding, the rest) and the top
operators by self time::

    KERAS_BACKEND=torch .venv/bin/python benchmarks/profile_torch_step.py --steps 5
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: operator name fragments -> group (first match wins)
GROUPS = (("convolution", ("conv", "mkldnn_convolution")),
          ("batch normalisation", ("batch_norm", "native_batch_norm")),
          ("layout copies", ("contiguous", "copy_", "clone", "permute")),
          ("padding", ("pad",)))


def group_of(name):
    for group, keys in GROUPS:
        if any(k in name for k in keys):
            return group
    return "other"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import torch

    from keras_lt.config import load_config
    from keras_lt.train.loop import build_training_model

    if keras.backend.backend() != "torch":
        sys.exit("run with KERAS_BACKEND=torch")
    torch.set_num_threads(2)
    cfg = load_config(ROOT / "zoo_configs" / "bccl-resnet32-cifar10lt-if100.yaml")
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    model = build_training_model(cfg, 10, counts, (32, 32, 3), steps_per_epoch=96)
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(args.batch_size, 32, 32, 3)).astype("float32") for _ in range(2))
    labels = rng.integers(0, 10, size=args.batch_size).astype("int32")
    for _ in range(args.warmup):
        model.train_on_batch(views, labels)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            model.train_on_batch(views, labels)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares = {}
    for e in events:
        shares[group_of(e.key)] = shares.get(group_of(e.key), 0) + e.self_cpu_time_total
    print(f"BCCL ResNet-32 step on torch, batch {args.batch_size} x 2 views, {args.steps} steps "
          f"profiled; {total / 1e6 / args.steps:.2f} s CPU self time per step")
    for group, t in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<22} {100 * t / total:5.1f} %")
    print(f"top {args.top} operators by self CPU time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f"  {e.key:<45} {100 * e.self_cpu_time_total / total:5.1f} %  ({e.count} calls)")


if __name__ == "__main__":
    main()
