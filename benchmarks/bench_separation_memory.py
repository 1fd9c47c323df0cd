#!/usr/bin/env python
"""Peak memory of Reb-SupCon's separation loss (forward + backward) against K.

L3 sums a hinge over all K x (K - 1) prototype pairs, so it materialises K x K matrices.
Each K runs in its own process (peak RSS is per process) on the torch backend, D = 128::

    .venv/bin/python benchmarks/bench_separation_memory.py 4096 8142

prints the peak growth and its ratio to one K x K float32 matrix; the ratio extrapolates the
cost of larger K (e.g. iNaturalist's K = 3C = 24,426, 2.2 GiB per matrix).
"""

import os
import subprocess
import sys

CHILD = """
import resource, sys
import numpy as np, torch
from keras_lt.losses.prototypes import separation_loss
k = int(sys.argv[1])
c = torch.tensor(np.random.default_rng(0).normal(size=(k, 128)).astype("float32"),
                 requires_grad=True)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
separation_loss(c, 1.0).backward()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
"""


def main(ks):
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    for k in ks:
        out = subprocess.run([sys.executable, "-c", CHILD, str(k)], env=env, check=True,
                             capture_output=True, text=True).stdout.split()[-1]
        grown = int(out) / 1024                                  # MiB (ru_maxrss is KiB)
        matrix = k * k * 4 / 2**20
        print(f"K={k}: peak +{grown:.0f} MiB = {grown / matrix:.1f} x one K x K float32 "
              f"matrix ({matrix:.0f} MiB)")


if __name__ == "__main__":
    main([int(k) for k in sys.argv[1:]] or [4096, 8142])
