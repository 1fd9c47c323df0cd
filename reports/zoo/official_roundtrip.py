"""Real-data check of the official-release path (tools/convert_torch.py --recipe).

No official BCCL release can be downloaded here, so one is made: the published
bccl-resnet32-cifar10lt-if100 checkpoint is written in the reference code's state-dict
layout (``encoder.*``, ``head.*``, ``fc.weight`` as NormedLinear (in, out), BatchNorm
``num_batches_tracked``, wrapped as ``{"state_dict": {"module.<key>": tensor}}`` like a
DataParallel ``.pth.tar``), then converted back with the command a user would run on a
real release, evaluated on the real CIFAR-10-LT test set. The converted folder must
reproduce the card's top-1 within 0.05 points.

    .venv/bin/python reports/zoo/official_roundtrip.py [--backend torch]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = "bccl-resnet32-cifar10lt-if100"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="torch")
    p.add_argument("--data", default=str(ROOT / "data_cache" / "cifar10-lt-if100"))
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = "torch"        # writing the .pth needs torch
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    import keras_lt
    from keras_lt.hub.convert import to_torch_state_dict

    model = keras_lt.from_pretrained(NAME, for_training=True)
    sd = to_torch_state_dict(model.backbone, model.head, model.classifier)
    with tempfile.TemporaryDirectory() as tmp:
        release = Path(tmp) / "bccl_cifar10_imb100_best.pth.tar"
        torch.save({"epoch": 30, "state_dict": {f"module.{k}": torch.from_numpy(np.array(v))
                                               for k, v in sd.items()}}, str(release))
        out = Path(tmp) / f"{NAME}-official"
        cmd = [sys.executable, str(ROOT / "tools" / "convert_torch.py"), str(release),
               "--recipe", NAME, "--data", args.data, "--out", str(out),
               "--backend", args.backend]
        print("$", " ".join(cmd[1:]).replace(str(ROOT) + "/", "").replace(tmp, "$TMP"))
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        print(proc.stdout.strip().replace(tmp, "$TMP"))
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        got = json.loads((out / "eval_results.json").read_text())["results"]["test"]
    card = json.loads((ROOT / "model_cards" / NAME / "eval_results.json").read_text())["results"]["test"]
    ok = True
    for key in ("top1", "class_avg", "many", "medium", "few"):
        if card.get(key) is None:
            continue
        diff = 100 * (got[key] - card[key])
        ok &= abs(diff) <= 0.05
        print(f"{key:9s} card {100 * card[key]:6.2f}  converted release {100 * got[key]:6.2f}  "
              f"diff {diff:+.2f}")
    print(f"backend {args.backend}: {'reproduced' if ok else 'NOT reproduced'} within 0.05 points")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
