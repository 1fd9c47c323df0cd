#!/usr/bin/env python
"""End to end: the authors' BCCL code against ``tools/train.py`` on each backend, interleaved.

Every side is a fresh process that trains the first ``--steps`` steps of BCCL ResNet-32 on the
same prepared CIFAR-10-LT IF100 (batch 128, two views, the official code's configuration on
keras-lt's side: per-epoch schedule, warm-up 10, SCL throughout, k-means every step of every 10th
epoch) and prints one ``timing {...}`` line: seconds from process start to the first finished
step, images/s over the steps after the first, its own peak RSS. Around it this script measures
the whole process: wall time and the peak proportional memory (PSS, so data-loader worker
processes count once) of the process and its children, polled every 0.2 s. The sides run in
turn (official, torch, tensorflow, jax, official, ...) for ``--rounds`` rounds; the table shows
medians and the ratio of each side's images/s to the official code's.

The official code is *not* part of keras-lt: fetch it and make its environment as
``benchmarks/official_bccl.py`` describes, then::

    .venv/bin/python benchmarks/bench_end_to_end.py --official-dir /work/official-bccl \\
        --official-python /work/official-env/bin/python --steps 15 --rounds 2 \\
        --sides official torch torch-generic tensorflow jax
    # keras-lt on torch with 1 and 2 data-loading threads against the official code (2 processes)
    .venv/bin/python benchmarks/bench_end_to_end.py --official-dir /work/official-bccl \\
        --official-python /work/official-env/bin/python --rounds 4 --sides official torch@1 torch@2
    # a change measured against the tree before it (git worktree add /tmp/before <commit>)
    .venv/bin/python benchmarks/bench_end_to_end.py --official-dir /work/official-bccl \\
        --official-python /work/official-env/bin/python --before /tmp/before \\
        --sides official before:torch torch before:tensorflow tensorflow
    # keras-lt's backends only (no official code needed)
    .venv/bin/python benchmarks/bench_end_to_end.py --sides torch tensorflow --steps 15

Run it with nothing else on the machine: every side shares the same cores.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "zoo_configs/bccl-resnet32-cifar10lt-if100.yaml"
#: keras-lt's BCCL in the official code's configuration (as reports/official-side-by-side)
REFERENCE = ("optim.warmup_epochs=10", "optim.schedule=bccl_epoch", "bccl.refresh=reference",
             "bccl.refresh_every=10", "bccl.scl_count=bccl_reference", "bccl.complement=false",
             "bccl.centroid_loss=reference")
#: "torch-generic": the torch backend without keras-lt's fast path (Keras' generic ops,
#: channels-last; KERAS_LT_TORCH_FAST_PATH=0), i.e. keras-lt on torch before the fast path
SIDES = ("official", "torch", "torch-generic", "tensorflow", "jax")


def command(side, opts, out):
    if side == "official":
        return [opts.official_python, str(ROOT / "benchmarks" / "official_bccl.py"), "train",
                "--official-dir", opts.official_dir, "--prepared", opts.prepared, "--epochs", "200",
                "--workers", str(opts.workers), "--threads", str(opts.threads), "--out", out,
                "--max-steps", str(opts.steps)]
    before, name, workers = parse_side(side)
    tree = Path(opts.before).resolve() if before else ROOT
    prepared = str((ROOT / opts.prepared).resolve())
    sets = [f"data.prepared={prepared}", f"data.workers={workers or opts.workers}", *REFERENCE]
    return [sys.executable, str(tree / "tools" / "train.py"), "--backend", name.split("-")[0],
            "--config", str(tree / RECIPE), "--max-steps", str(opts.steps), "--run-dir", out,
            *[arg for s in sets for arg in ("--set", s)]]


def parse_side(side):
    """``[before:]name[@workers]`` -> ``(before, name, workers)``: whether the side runs from
    the ``--before`` tree, its name, and its loader threads as a string ("" when not given)."""
    before = side.startswith("before:")
    name, _, workers = side.removeprefix("before:").partition("@")
    return before, name, workers


def side_name(text):
    """``--sides`` entry: a side of :data:`SIDES`; keras-lt's may end in ``@workers`` and
    start with ``before:`` (the same side run from the ``--before`` tree)."""
    before, name, workers = parse_side(text)
    if (name not in SIDES or (name == "official" and (workers or before or "@" in text))
            or ("@" in text and not workers.isdigit())):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected one of {', '.join(SIDES)}; a keras-lt side may end in @N "
            "(N worker threads) and start with before: (run from --before)")
    return text


def tree_pss_mb(pid):
    """Proportional set size of ``pid`` and its descendants, MiB (0 if gone)."""
    pids, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        pids.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        frontier.extend(int(c) for c in children)
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024.0


def run_side(side, opts):
    with tempfile.TemporaryDirectory(prefix=f"e2e-{side}-") as tmp:
        out = str(Path(tmp) / "run")
        env = dict(os.environ, OMP_NUM_THREADS=str(opts.threads), TQDM_DISABLE="1",
                   KERAS_LT_TORCH_FAST_PATH="0" if parse_side(side)[1] == "torch-generic" else "1")
        log = Path(tmp) / "output.txt"
        start = time.perf_counter()
        with open(log, "w") as fh:
            proc = subprocess.Popen(command(side, opts, out), cwd=ROOT, env=env, text=True,
                                    stdout=fh, stderr=subprocess.STDOUT)
            peak = 0.0
            while proc.poll() is None:
                peak = max(peak, tree_pss_mb(proc.pid))
                time.sleep(0.2)
        wall = time.perf_counter() - start
        text = log.read_text(errors="replace")
    timing = [ln for ln in text.splitlines() if ln.startswith("timing ")]
    if proc.returncode != 0 or not timing:
        sys.exit(f"{side}: exit {proc.returncode}, no timing line; its output ends:\n{text[-3000:]}")
    row = json.loads(timing[-1][len("timing "):])
    row.update(side=side, wall_s=round(wall, 1), peak_pss_mb=round(peak, 1))
    return row


def median(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--sides", nargs="+", default=list(SIDES), type=side_name,
                   help=f"any of {', '.join(SIDES)}; a keras-lt side may end in @N to load "
                        "its data with N worker threads instead of --workers (torch@1)")
    p.add_argument("--official-dir", help="the official BCCL checkout (for side 'official')")
    p.add_argument("--official-python", help="the official environment's python")
    p.add_argument("--prepared", default="data_cache/cifar10-lt-if100")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="data-loading workers, both sides")
    p.add_argument("--threads", type=int, default=2, help="compute threads, both sides")
    p.add_argument("--before", metavar="DIR",
                   help="another checkout of keras-lt (e.g. a git worktree of the commit before a "
                        "change), for sides named before:<side>")
    p.add_argument("--json", help="also write every measured row here")
    opts = p.parse_args(argv)
    if "official" in opts.sides and not (opts.official_dir and opts.official_python):
        p.error("side 'official' needs --official-dir and --official-python")
    if any(side.startswith("before:") for side in opts.sides) and not opts.before:
        p.error("before:<side> needs --before DIR")
    if not (ROOT / opts.prepared).exists() and not Path(opts.prepared).exists():
        p.error(f"--prepared {opts.prepared}: not found (tools/prepare_data.py makes it)")
    rows = []
    for r in range(opts.rounds):
        for side in opts.sides:
            row = run_side(side, opts)
            rows.append(row)
            print(f"round {r + 1} {side:>10}: {row['images_per_s']} images/s, first step "
                  f"{row['first_step_s']} s, process {row['wall_s']} s, peak RSS "
                  f"{row['peak_rss_mb']:.0f} MiB, peak PSS (with workers) {row['peak_pss_mb']:.0f} MiB",
                  flush=True)
    base = median([r for r in rows if r["side"] == opts.sides[0]], "images_per_s")
    print(f"\n{opts.steps} steps of batch 128 x 2 views, {opts.rounds} interleaved rounds, medians; "
          f"ratio = images/s / {opts.sides[0]}'s")
    print("| side | images/s | ratio | first step (s) | process (s) | peak RSS (MiB) | peak PSS with workers (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for side in opts.sides:
        mine = [r for r in rows if r["side"] == side]
        ips = median(mine, "images_per_s")
        print(f"| {side} | {ips:.1f} | {ips / base:.2f} | {median(mine, 'first_step_s'):.1f} | "
              f"{median(mine, 'wall_s'):.1f} | {median(mine, 'peak_rss_mb'):.0f} | "
              f"{median(mine, 'peak_pss_mb'):.0f} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
