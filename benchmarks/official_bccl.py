#!/usr/bin/env python
"""Run the authors' BCCL code on keras-lt's prepared data, on a CPU, unchanged otherwise.

The official repository (GGTINE/Balanced-Clustering-Contrastive-Learning-for-Long-Tailed-
Data-Recognition, commit 3507ea1f) is *not* part of keras-lt: fetch it yourself and pass its
folder with ``--official-dir``. This harness imports its modules and changes only what a
machine without CUDA needs, at run time:

* ``torch.cuda.FloatTensor(list)`` (``loss/contrastive.py``, ``loss/logitadjust.py``) makes a
  CPU float32 tensor; ``Tensor.cuda()`` / ``Module.cuda()`` return the object unchanged;
* ``autocast`` is a no-op context and the global ``GradScaler`` a disabled one (the code's
  mixed precision is CUDA-only);
* ``load_dataset`` returns keras-lt's prepared split (``tools/prepare_data.py`` output,
  ``images.npy`` + ``labels.npy``) through the official transforms of ``load_transform``,
  two views per training image, exactly as ``IMBALANCECIFAR10.__getitem__`` returns them.

The model, views, losses, queue, k-means, optimiser, schedule and evaluation are the official
code's. Two subcommands:

``train``  the official ``main_worker`` for ``--epochs`` epochs (official defaults otherwise:
           warm-up 10, lr 0.15, batch 128, temperature 0.1, ...); afterwards the last-epoch
           model is evaluated once more here, per class, and ``test_report.json`` (top-1,
           many / medium / few with keras-lt's thresholds), ``epochs.csv`` (every epoch's test
           top-1 as the official code measured it) and ``official_model.pt`` are written to
           ``--out``.
``step-inputs``  (keras-lt's environment) the inputs of one step: keras-lt's initial BCCL
           ResNet-32 weights exported with ``to_torch_state_dict``, two views of a batch, labels
           and centroids, as an ``.npz``;
``step``   (the official environment) one official training step on them (post-warm-up:
           SupCon + LA-CE + 0.1 * centroid loss, then SGD), in float64 and in float32; the
           inputs, both runs' loss terms, the float64 run's weight and BatchNorm-statistics
           updates and the float32 run's distance from them go to ``--out``: the step-parity fixture
           ``tests/fixtures/bccl_official_step.npz`` that ``tests/test_official_step.py``
           checks keras-lt against on every backend, without the official code::

    .venv/bin/python benchmarks/official_bccl.py step-inputs --out /tmp/step_inputs.npz
    /work/official-env/bin/python benchmarks/official_bccl.py step --official-dir \
        /work/official-bccl --inputs /tmp/step_inputs.npz --out tests/fixtures/bccl_official_step.npz

Environment (kept apart from keras-lt's, which has no torchvision)::

    python3 -m venv /work/official-env
    /work/official-env/bin/pip install torch==2.14.1 torchvision==0.29.1 kmeans_gpu==0.0.5 \\
        tensorboardX tqdm numpy pillow
    /work/official-env/bin/python benchmarks/official_bccl.py train \\
        --official-dir /work/official-bccl --prepared data_cache/cifar10-lt-if100 \\
        --epochs 30 --workers 2 --out reports/official-side-by-side/official-e30
"""

import time

STARTED = time.perf_counter()    # before the heavy imports: timing runs count from here

import argparse  # noqa: E402
import contextlib  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


# -- CPU shims ---------------------------------------------------------------------------


def cpu_shims(torch):
    """Make the CUDA-only calls of the official code run on the CPU (see module doc)."""
    torch.cuda.FloatTensor = lambda data: torch.tensor(data, dtype=torch.float32)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self


def import_official(official_dir):
    """Import the official modules (``main`` last, since it imports the others)."""
    official_dir = Path(official_dir).resolve()
    if not (official_dir / "main.py").is_file() or not (official_dir / "loss").is_dir():
        sys.exit(f"--official-dir {official_dir}: not a BCCL checkout (no main.py / loss/)")
    import torch

    cpu_shims(torch)
    sys.path.insert(0, str(official_dir))
    import main as official_main                       # noqa: E402  (the official main.py)
    official_main.autocast = lambda *args, **kwargs: contextlib.nullcontext()
    official_main.scaler = torch.amp.GradScaler("cpu", enabled=False)
    return torch, official_main


# -- keras-lt's prepared data through the official transforms -----------------------------


def read_split(prepared, split):
    """(images uint8 (N, H, W, 3), labels int64 (N,)) of a prepared split stored raw."""
    folder = Path(prepared) / split
    images = folder / "images.npy"
    if not images.is_file():
        sys.exit(f"{folder}: no images.npy (prepare the data with tools/prepare_data.py; "
                 f"encoded-bytes storage is not supported here)")
    return np.load(images, mmap_mode="r"), np.load(folder / "labels.npy").astype(np.int64)


def make_dataset_class(torch):
    from PIL import Image

    class PreparedSplit(torch.utils.data.Dataset):
        """A prepared split with the official ``__getitem__`` contract: a list of one image
        through each training transform (``[t0(img), t1(img)], label``), or ``t(img), label``."""

        def __init__(self, images, labels, transform, num_classes, train):
            self.images, self.labels, self.transform, self.train = images, labels, transform, train
            self.targets = labels.tolist()
            self.cls_num_list = np.bincount(labels, minlength=num_classes).tolist()

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            img = Image.fromarray(np.asarray(self.images[index]))
            if self.train:
                return [t(img) for t in self.transform], int(self.labels[index])
            return self.transform(img), int(self.labels[index])

    return PreparedSplit


# -- train ---------------------------------------------------------------------------------


def official_args(official_main, argv):
    """The official argument namespace from its own parser (``myparser.load_args``)."""
    saved = sys.argv
    sys.argv = ["main.py", *argv]
    try:
        return official_main.load_args()
    finally:
        sys.argv = saved


def shot_groups(counts):
    """keras-lt's many / medium / few thresholds (> 100, 20-100, < 20), as the official code."""
    counts = np.asarray(counts)
    return {"many": counts > 100, "medium": (counts <= 100) & (counts >= 20), "few": counts < 20}


def per_class_report(preds, labels, counts, names):
    acc = np.array([float(np.mean(preds[labels == c] == c)) for c in range(len(counts))])
    report = {"num_samples": int(len(labels)), "top1": float(np.mean(preds == labels)),
              "class_avg": float(acc.mean())}
    for group, mask in shot_groups(counts).items():
        report[group] = float(acc[mask].mean()) if mask.any() else None
        report[f"num_classes_{group}"] = int(mask.sum())
    report["per_class"] = [{"class": c, "name": names[c], "train_count": int(counts[c]),
                            "accuracy": float(acc[c])} for c in range(len(counts))]
    return report


def cmd_train(opts):
    torch, official_main = import_official(opts.official_dir)
    torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((Path(opts.prepared) / "meta.json").read_text())
    names, num_classes = meta["class_names"], int(meta["num_classes"])
    args = official_args(official_main, [
        "--dataset", "cifar10", "--epochs", str(opts.epochs), "--workers", str(opts.workers),
        "--imb_factor", str(opts.imb_factor), "--root_log", str(out / "log"),
        *opts.extra])
    args.store_name = str(out / "tensorboard")
    # main(): the official seeding (main.py) -- random, numpy, torch
    import random
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    PreparedSplit = make_dataset_class(torch)
    train_x, train_y = read_split(opts.prepared, "train")
    test_x, test_y = read_split(opts.prepared, "test")

    def load_dataset(args_, train_transform, test_transform):
        # the official IMBALANCECIFAR10 constructor reseeds numpy with 0 (its rand_number);
        # the k-means initial points are drawn from that stream, so do the same
        np.random.seed(0)
        return (PreparedSplit(train_x, train_y, train_transform, num_classes, True),
                PreparedSplit(test_x, test_y, test_transform, num_classes, False), num_classes)

    official_main.load_dataset = load_dataset
    built = {}
    build_model = official_main.build_model

    def capture_model(args_, num_classes):
        built["model"] = build_model(args_, num_classes)
        return built["model"]

    official_main.build_model = capture_model
    history = []
    evaluate = official_main.evaluate
    start = time.time()

    def logged_evaluate(*a, **kw):
        acc1, many, med, few = evaluate(*a, **kw)
        history.append({"epoch": len(history) + 1, "test_top1": round(float(acc1) / 100, 6),
                        "many": float(many), "medium": float(med), "few": float(few),
                        "seconds": round(time.time() - start, 1)})
        print(f"official epoch {len(history)}/{opts.epochs}: test top-1 {acc1:.2f} "
              f"({time.time() - start:.0f} s)", flush=True)
        return acc1, many, med, few

    official_main.evaluate = logged_evaluate
    if opts.max_steps:
        return timing_run(torch, official_main, args, opts.max_steps)
    official_main.main_worker(args)
    train_seconds = time.time() - start

    model = built["model"].eval()
    _, test_transform = official_main.load_transform(args)
    test_set = PreparedSplit(test_x, test_y, test_transform, num_classes, False)
    loader = torch.utils.data.DataLoader(test_set, batch_size=256, shuffle=False)
    preds = []
    with torch.no_grad():
        for images, _ in loader:
            preds.append(model(images)[1].argmax(1).numpy())
    report = per_class_report(np.concatenate(preds), test_y, np.bincount(train_y, minlength=num_classes),
                              names)
    best = max(history, key=lambda row: row["test_top1"])
    report["info"] = {
        "split": "test", "code": "official BCCL (GGTINE, 3507ea1f) via benchmarks/official_bccl.py",
        "weights": "last epoch", "epochs": opts.epochs, "train_seconds": round(train_seconds, 1),
        "best_test_epoch": best["epoch"], "best_test_top1": best["test_top1"],
        "official_args": {k: v for k, v in sorted(vars(args).items()) if isinstance(v, (int, float, str, bool))},
        "torch": torch.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "threads": opts.threads, "workers": opts.workers,
        "dataset": str(opts.prepared), "dataset_provenance": meta.get("provenance", {})}
    (out / "test_report.json").write_text(json.dumps(report, indent=2))
    with open(out / "epochs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    torch.save(model.state_dict(), out / "official_model.pt")
    print(f"last epoch: test top-1 {report['top1'] * 100:.2f}  many {report['many']}  "
          f"medium {report['medium']}  few {report['few']}  ({train_seconds:.0f} s)")


class _StopTiming(Exception):
    pass


def timing_run(torch, official_main, args, max_steps, skip=1):
    """The official ``main_worker`` until ``max_steps`` optimiser steps have finished."""
    import resource

    ends = []
    sgd_step = torch.optim.SGD.step

    def timed_step(self, *a, **kw):
        out = sgd_step(self, *a, **kw)
        ends.append(time.perf_counter())
        if len(ends) >= max_steps:
            raise _StopTiming
        return out

    torch.optim.SGD.step = timed_step
    try:
        official_main.main_worker(args)
    except _StopTiming:
        pass
    finally:
        torch.optim.SGD.step = sgd_step
    timed = ends[skip:]
    rate = args.batch_size * (len(timed) - 1) / (timed[-1] - timed[0]) if len(timed) >= 2 else None
    summary = {"steps": len(ends), "batch_size": args.batch_size,
               "first_step_s": round(ends[0] - STARTED, 2) if ends else None,
               "images_per_s": None if rate is None else round(rate, 1),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "backend": "official torch"}
    print("timing " + json.dumps(summary), flush=True)
    return summary


# -- step ------------------------------------------------------------------------------------

#: the one step's setting: CIFAR-10-LT IF100 class counts, the official defaults
STEP = {"batch": 16, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "temperature": 0.1,
        "ceta": 0.1, "num_centroids": 5, "feat_dim": 128,
        "class_counts": [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]}


def cmd_step_inputs(opts):
    """keras-lt side (needs keras-lt's environment): the inputs of one official step."""
    import keras

    from keras_lt.hub.convert import to_torch_state_dict
    from keras_lt.models import BCCL

    keras.utils.set_random_seed(opts.seed)
    counts = STEP["class_counts"]
    model = BCCL("resnet32", num_classes=len(counts), class_counts=counts,
                 feat_dim=STEP["feat_dim"], num_centroids=STEP["num_centroids"])
    model.build((None, 32, 32, 3))
    rng = np.random.default_rng(opts.seed)
    b, c, k, d = STEP["batch"], len(counts), STEP["num_centroids"], STEP["feat_dim"]
    # labels: a long-tailed draw with repeated classes and at least one singleton
    labels = np.concatenate([[0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 7], [8, 9]])[:b]
    rng.shuffle(labels)
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2023, 0.1994, 0.2010])
    views = [((rng.uniform(0, 1, (b, 32, 32, 3)) - mean) / std).astype(np.float32)
             for _ in range(2)]
    unit = rng.normal(size=(c, k, 8, d))
    unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
    centroids = unit.mean(axis=2).astype(np.float32)          # means of unit vectors, |mu| < 1
    out = {f"w0/{key}": value for key, value in
           to_torch_state_dict(model.backbone, model.head, model.classifier).items()
           if not key.endswith("num_batches_tracked")}
    out.update({"view0": views[0].transpose(0, 3, 1, 2).copy(),       # NCHW, as torch
                "view1": views[1].transpose(0, 3, 1, 2).copy(),
                "labels": labels.astype(np.int64), "centroids": centroids,
                "class_counts": np.array(counts, np.int64),
                **{key: np.float64(STEP[key]) for key in
                   ("lr", "momentum", "weight_decay", "temperature", "ceta")}})
    np.savez_compressed(opts.out, **out)
    print(f"step inputs ({len(out)} arrays, backend {keras.backend.backend()}) -> {opts.out}")



def official_step(torch, z, dtype):
    """One official post-warm-up step (the statements of main.py ``train()`` with alpha =
    beta = 1 and ceta) in ``dtype``; returns (loss terms, state dict after the step)."""
    from loss.contrastive import SupConLoss            # noqa: E402  (official)
    from loss.logitadjust import LogitAdjust           # noqa: E402  (official)
    from model.models import Model                     # noqa: E402  (official)

    counts = z["class_counts"].tolist()
    num_classes, k, feat_dim = z["centroids"].shape
    model = Model(num_classes=num_classes, name="resnet32", head="cifar", use_norm=True,
                  feat_dim=int(feat_dim))
    state = {key[len("w0/"):]: torch.from_numpy(np.array(value)) for key, value in z.items()
             if key.startswith("w0/")}
    for key, value in model.state_dict().items():      # num_batches_tracked is not exported
        state.setdefault(key, value)
    model.load_state_dict(state, strict=True)
    model = model.to(dtype).train()
    optimizer = torch.optim.SGD(model.parameters(), float(z["lr"]), momentum=float(z["momentum"]),
                                weight_decay=float(z["weight_decay"]))
    criterion_ce = LogitAdjust(counts)
    criterion_ce.m_list = criterion_ce.m_list.to(dtype)
    criterion_scl = SupConLoss(counts, float(z["temperature"]), int(k))
    x0 = torch.from_numpy(z["view0"]).to(dtype)
    x1 = torch.from_numpy(z["view1"]).to(dtype)
    targets = torch.from_numpy(z["labels"].astype(np.int64))
    b = targets.shape[0]
    feat_mlp, logits = model(torch.cat([x0, x1], dim=0))
    logits, _ = torch.split(logits, [b, b], dim=0)
    f1, f2 = torch.split(feat_mlp, [b, b], dim=0)
    features = torch.cat([f1.unsqueeze(1), f2.unsqueeze(1)], dim=1)
    ce_loss = criterion_ce(logits, targets)
    scl_loss, centroid_loss = criterion_scl(features, targets,
                                            average=torch.from_numpy(z["centroids"]).to(dtype))
    loss = 1.0 * scl_loss + 1.0 * ce_loss + float(z["ceta"]) * centroid_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    terms = {"ce_loss": ce_loss.item(), "scl_loss": scl_loss.item(),
             "centroid_loss": centroid_loss.item()}
    weights = {key: value.detach().numpy() for key, value in model.state_dict().items()
               if not key.endswith("num_batches_tracked")}
    return terms, weights


def cmd_step(opts):
    torch, _ = import_official(opts.official_dir)
    torch.set_num_threads(opts.threads)
    z = dict(np.load(opts.inputs))
    out = dict(z)
    out.update({"official_commit": np.array("3507ea1f72134cec19c21ebd8d720385e33ad68b"),
                "official_torch": np.array(torch.__version__)})
    # float64: the exact step, stored as its update (float32 deltas, the fixture's size);
    # float32, as the code runs: its loss terms and how far its own update is from the
    # float64 one (the float32 rounding floor a reimplementation is measured against)
    w0 = {key[len("w0/"):]: np.asarray(value, np.float64) for key, value in z.items()
          if key.startswith("w0/")}
    exact_terms, exact = official_step(torch, z, torch.float64)
    terms, weights = official_step(torch, z, torch.float32)
    for name in terms:
        out[name] = np.float64(terms[name])
        out[f"{name}_f64"] = np.float64(exact_terms[name])
    for key, value in exact.items():
        out[f"d1_f64/{key}"] = (value - w0[key]).astype(np.float32)
        out[f"f32_dev/{key}"] = np.float64(np.linalg.norm(weights[key].astype(np.float64) - value))
    print("official step, float32: " + "  ".join(f"{n} {v:.6f}" for n, v in terms.items()))
    print("official step, float64: " + "  ".join(f"{n} {v:.6f}" for n, v in exact_terms.items()))
    np.savez_compressed(opts.out, **out)
    print(f"-> {opts.out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    train = sub.add_parser("train", help="train with the official code on a prepared dataset")
    train.add_argument("--official-dir", required=True)
    train.add_argument("--prepared", required=True, help="tools/prepare_data.py output")
    train.add_argument("--epochs", type=int, default=200)
    train.add_argument("--imb-factor", type=float, default=0.01,
                       help="only names the official log folder; the data is --prepared's")
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--threads", type=int, default=2)
    train.add_argument("--out", required=True)
    train.add_argument("--max-steps", type=int, metavar="N",
                       help="timing run: stop after N optimiser steps, print a timing line")
    train.add_argument("extra", nargs="*", help="further official flags after --, e.g. -- --lr 0.1")
    inputs = sub.add_parser("step-inputs", help="keras-lt's side: inputs of one step")
    inputs.add_argument("--seed", type=int, default=0)
    inputs.add_argument("--out", required=True)
    step = sub.add_parser("step", help="one official training step -> step-parity fixture")
    step.add_argument("--official-dir", required=True)
    step.add_argument("--inputs", required=True)
    step.add_argument("--threads", type=int, default=1)
    step.add_argument("--out", required=True)
    opts = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    {"train": cmd_train, "step-inputs": cmd_step_inputs, "step": cmd_step}[opts.cmd](opts)


if __name__ == "__main__":
    main()
