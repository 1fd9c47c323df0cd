#!/usr/bin/env python
"""Cost of Reb-SupCon's parts over a plain supervised step, measured side by side.

Train steps (``train_on_batch``, SGD, synthetic data already in memory) of:

* ``plain``       -- backbone + linear classifier, logit-adjusted loss, one view of B images;
* ``moco``        -- Reb-SupCon with the rebalancing factor and prototypes off: the key
  encoder (EMA update + forward of the key view) and the labelled queue (Table 6 "SupCon");
* ``+rebalance``  -- plus the rebalancing factor and its per-class gradient statistics;
* ``full``        -- plus the prototype module (K prototypes, Sinkhorn on both branches,
  swapped prediction, aggregation and separation losses).

    python benchmarks/bench_rebsupcon_overhead.py                        # ResNet-32, K = 3000
    python benchmarks/bench_rebsupcon_overhead.py --backend tensorflow --prototypes 30

Printed: seconds per step and each variant's time relative to ``plain``.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "moco", "+rebalance", "full")


def worker(args):
    import keras
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from keras_lt.losses import LogitAdjustedLoss
    from keras_lt.models import LTClassifier, RebSupCon

    counts = np.round(5000 * 0.01 ** (np.arange(args.classes) / max(args.classes - 1, 1)))
    rng = np.random.default_rng(0)
    size = args.image_size
    x = rng.normal(size=(args.batch_size, size, size, 3)).astype("float32")
    y = rng.integers(0, args.classes, size=args.batch_size).astype("int32")
    common = dict(backbone=args.backbone, num_classes=args.classes,
                  input_shape=(size, size, 3), weight_decay=5e-4)
    if args.variant == "plain":
        model = LTClassifier(**common)
        model.build((None, size, size, 3))
        model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9),
                      loss=LogitAdjustedLoss(counts))
        data = (x, y)
    else:
        model = RebSupCon(**common, class_counts=counts, queue_size=args.queue_size,
                          num_prototypes=args.prototypes,
                          use_rebalance=args.variant in ("+rebalance", "full"),
                          use_prototypes=args.variant == "full")
        model.build((None, size, size, 3))
        model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9))
        data = ((x, x[::-1].copy()), y)
    for _ in range(2):
        model.train_on_batch(*data)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(*data)
    sec = (time.perf_counter() - t0) / args.steps
    print("RESULT " + json.dumps({"variant": args.variant, "sec": sec}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="torch", choices=["torch", "tensorflow", "jax"])
    p.add_argument("--backbone", default="resnet32")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--queue-size", type=int, default=4096)
    p.add_argument("--prototypes", type=int, default=3000, help="K (Table 8: 3000 on ImageNet-LT)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        return worker(args)
    print(f"Reb-SupCon step cost, backend {args.backend}, {args.backbone} at {args.image_size} px, "
          f"B = {args.batch_size}, C = {args.classes}, queue {args.queue_size}, "
          f"K = {args.prototypes}, D = 128; {os.cpu_count()} CPU cores", flush=True)
    base = None
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant] + [
            a for k, v in vars(args).items() if k != "variant"
            for a in (f"--{k.replace('_', '-')}", str(v))]
        proc = subprocess.run(cmd, env={**os.environ, "KERAS_BACKEND": args.backend},
                              capture_output=True, text=True)
        line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
        if not line:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        sec = json.loads(line[0][7:])["sec"]
        base = base or sec
        print(f"{variant:>12}: {sec * 1e3:8.1f} ms/step   x{sec / base:5.2f} of plain", flush=True)


if __name__ == "__main__":
    main()
