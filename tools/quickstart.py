#!/usr/bin/env python
"""The offline end-to-end demo: long-tailed digits -> train -> many/medium/few report.

Needs no network and no external data: scikit-learn's bundled 8x8 digits are
turned into a long-tailed training set (tools/prepare_data.py --source digits),
a small ResNet-32 is trained with the logit-adjusted loss for a minute or two
(zoo_configs/demo-digits-resnet32.yaml), and the test report is printed and
written to runs/quickstart/ (JSON, per-class CSV, confusion CSV, PNG plot).

    python tools/quickstart.py                    # backend from $KERAS_BACKEND (default torch)
    python tools/quickstart.py --backend jax --set optim.epochs=5
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from keras_lt_cli.bootstrap import BACKENDS, ROOT, select_backend


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=BACKENDS, default=os.environ.get("KERAS_BACKEND", "torch"))
    p.add_argument("--data", default=str(ROOT / "data_cache" / "digits-lt"))
    p.add_argument("--run-dir", default=str(ROOT / "runs" / "quickstart"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    select_backend(args.backend)

    data = Path(args.data)
    if not (data / "meta.json").exists():
        print(f"[1/3] preparing long-tailed digits -> {data}", flush=True)
        rc = subprocess.call([sys.executable, str(ROOT / "tools" / "prepare_data.py"),
                              "--source", "digits", "--output", str(data)])
        if rc:
            return rc
    else:
        print(f"[1/3] using the prepared dataset {data}", flush=True)

    run_dir = Path(args.run_dir)
    if run_dir.exists():   # the demo always starts fresh
        shutil.rmtree(run_dir)
    print(f"[2/3] training on the {args.backend} backend -> {run_dir}", flush=True)
    from keras_lt.config import load_config
    from keras_lt.train.loop import train

    cfg = load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml",
                      [f"data.prepared={data}", *args.overrides])
    metrics = train(cfg, run_dir, verbose=2)
    print(f"[3/3] report files: {run_dir}/test_report.json, test_report_per_class.csv, "
          f"test_report_confusion.csv, test_report_per_class.png")
    return 0 if metrics is not None else 1


if __name__ == "__main__":
    sys.exit(main())
