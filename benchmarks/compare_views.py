#!/usr/bin/env python
"""Do keras-lt's BCCL training views give the same images as the official BCCL transforms?

The official BCCL code (GGTINE/Balanced-Clustering-Contrastive-Learning-for-Long-Tailed-Data-
Recognition) is *not* part of keras-lt: pass its folder with ``--official-dir``. Its CIFAR
"sim-sim" views (``dataset/transform.py``, ``load_transform``) are

* view 0: RandomCrop(32, padding=4), RandomHorizontalFlip, CIFAR10Policy (AutoAugment),
  ToTensor, Cutout(1 hole, 16), Normalize -- keras-lt's ``cifar_autoaug``;
* view 1: RandomResizedCrop(32), RandomHorizontalFlip, RandomApply([ColorJitter(0.4, 0.4,
  0.4, 0.1)], p=0.8), RandomGrayscale(0.2), ToTensor, Normalize -- keras-lt's ``cifar_simaug``.

Three subcommands, each run by the interpreter that has the code it needs:

``official``  (the official environment: torch + torchvision; keras-lt not needed) augments a
              fixed set of source images of a prepared split with the official transforms
              and writes, un-normalised back to uint8 pixels, to an ``.npz``: both views,
              ColorJitter alone, CIFAR10Policy alone, RandomResizedCrop alone (several
              draws of each source image), 100,000 RandomResizedCrop parameter draws and
              Cutout hole areas, and *fixed-parameter* outputs of every primitive (each
              AutoAugment op at every (magnitude, sign) the policy uses, ColorJitter with
              given order and factors, hue, grayscale, padded crop, flip, Cutout, resized
              crop, normalisation) for a bit-exact check;
``keras-lt``  (keras-lt's environment: no torch) the same with ``keras_lt.data.augment``;
              the fixed-parameter outputs come from keras-lt's functions fed the same
              parameters through a stub generator;
``compare``   (either environment: NumPy and Pillow) prints the comparison. Statistics are paired
              by source image: per metric, the mean over draws of each source image, then
              the mean difference (official - keras-lt) and its standard error over the
              source images. A second official dump with another seed gives the null
              (official vs official) for every row.

Example (``reports/official-side-by-side/views.txt`` was made this way, with the commands
written to a header file first)::

    /work/official-env/bin/python benchmarks/compare_views.py official \\
        --official-dir /work/official-bccl --n 8000 --seed 0 --out /tmp/cv/official8k_s0.npz
    /work/official-env/bin/python benchmarks/compare_views.py official \\
        --official-dir /work/official-bccl --n 8000 --seed 1 --out /tmp/cv/official8k_s1.npz
    .venv/bin/python benchmarks/compare_views.py keras-lt --n 8000 --seed 0 \\
        --out /tmp/cv/keraslt8k.npz
    .venv/bin/python benchmarks/compare_views.py compare --official /tmp/cv/official8k_s0.npz \\
        --official-null /tmp/cv/official8k_s1.npz --keras-lt /tmp/cv/keraslt8k.npz \\
        --report reports/official-side-by-side/views.txt --header /tmp/cv/header.txt

All sides read the same source images (``--data``, ``--n``, ``--select-seed``) and build the
fixed parameters from the same NumPy generator, so only the augmentation code differs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

MEAN = (0.4914, 0.4822, 0.4465)     # BCCL dataset/transform.py, and keras-lt's BCCL recipe
STD = (0.2023, 0.1994, 0.2010)
SIZE = 32
N_PARAM_DRAWS = 100_000             # RandomResizedCrop params / Cutout areas
N_FIXED = 200                       # images per fixed-parameter case

# (op, magnitude index) pairs that CIFAR10Policy uses (both tables are checked against each
# other by ``compare``); signed ops are run with both signs.
SIGNED = {"shearX", "shearY", "translateX", "translateY", "color", "contrast", "sharpness",
          "brightness"}


# ----------------------------------------------------------------------------------------
# shared: source images, fixed parameters


def load_sources(data, n, select_seed):
    folder = Path(data) / "train"
    images = np.load(folder / "images.npy", mmap_mode="r")
    idx = np.sort(np.random.default_rng(select_seed).choice(len(images), n, replace=False))
    return idx, np.ascontiguousarray(images[idx])


def fixed_params(n_src):
    """Parameters for the bit-exact checks, the same on every side."""
    g = np.random.default_rng(2024)
    p = {}
    p["src"] = g.integers(0, n_src, size=N_FIXED)
    p["crop"] = g.integers(0, 9, size=(N_FIXED, 2))                 # top, left in [0, 8]
    p["cutout"] = g.integers(0, SIZE, size=(N_FIXED, 2))            # y, x in [0, 31]
    # resized-crop boxes: torchvision's sampling in NumPy (any valid box will do)
    boxes = []
    while len(boxes) < N_FIXED:
        area = SIZE * SIZE * g.uniform(0.08, 1.0)
        ar = math.exp(g.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = int(round(math.sqrt(area * ar))), int(round(math.sqrt(area / ar)))
        if 0 < w <= SIZE and 0 < h <= SIZE:
            boxes.append((int(g.integers(0, SIZE - h + 1)), int(g.integers(0, SIZE - w + 1)),
                          h, w))
    p["rrc"] = np.array(boxes)
    p["cj_order"] = np.stack([g.permutation(4) for _ in range(N_FIXED)])
    p["cj_factors"] = np.stack([g.uniform(0.6, 1.4, N_FIXED), g.uniform(0.6, 1.4, N_FIXED),
                                g.uniform(0.6, 1.4, N_FIXED), g.uniform(-0.1, 0.1, N_FIXED)], 1)
    p["hue"] = g.uniform(-0.1, 0.1, N_FIXED)
    return p


# ----------------------------------------------------------------------------------------
# official side (torch + torchvision)


def unnormalise_tensor(t):
    """Normalised CHW float tensor -> (uint8 HWC, largest distance from an integer level)."""
    x = t.detach().cpu().numpy().astype(np.float64)
    x = (x * np.array(STD)[:, None, None] + np.array(MEAN)[:, None, None]) * 255.0
    r = np.rint(x)
    return np.clip(r, 0, 255).astype(np.uint8).transpose(1, 2, 0), float(np.abs(x - r).max())


def run_official(opts):
    import random
    import types

    import torch
    from PIL import Image

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(opts.official_dir).resolve()))
    import randaugment                                    # noqa: E402  (official)
    from dataset.transform import load_transform          # noqa: E402  (official)
    from torchvision.transforms import functional as F

    args = types.SimpleNamespace(dataset="cifar10", cl_views="sim-sim", randaug_n=2,
                                 randaug_m=10)
    (view0, view1), _ = load_transform(args)
    t0, t1 = view0.transforms, view1.transforms
    print("official view 0:", [type(t).__name__ for t in t0])
    print("official view 1:", [type(t).__name__ for t in t1])
    policy = t0[2]
    rrc = t1[0]
    jitter = t1[2].transforms[0]
    to_tensor, normalise = t0[3], t0[5]

    idx, src = load_sources(opts.data, opts.n, opts.select_seed)
    pils = [Image.fromarray(im) for im in src]
    random.seed(opts.seed)
    np.random.seed(opts.seed)
    torch.manual_seed(opts.seed)

    out = {"src_index": idx, "src": src}
    worst = 0.0
    t_start = time.time()
    for key, tf in (("view0", view0), ("view1", view1)):
        arr = np.empty((opts.reps, len(src), SIZE, SIZE, 3), np.uint8)
        for r in range(opts.reps):
            for i, im in enumerate(pils):
                arr[r, i], err = unnormalise_tensor(tf(im))
                worst = max(worst, err)
        out[key] = arr
    out["unnormalise_max_err"] = np.float64(worst)
    for key, tf in (("op_jitter", jitter), ("op_policy", policy), ("op_rrc", rrc)):
        arr = np.empty((opts.reps, len(src), SIZE, SIZE, 3), np.uint8)
        for r in range(opts.reps):
            for i, im in enumerate(pils):
                arr[r, i] = np.asarray(tf(im))
        out[key] = arr
    blank = Image.new("RGB", (SIZE, SIZE))
    out["rrc_params"] = np.array([rrc.get_params(blank, rrc.scale, rrc.ratio)
                                  for _ in range(N_PARAM_DRAWS)])
    cut = t0[4]
    ones = torch.ones(3, SIZE, SIZE)
    out["cutout_area"] = np.array([int((cut(ones)[0] == 0).sum()) for _ in range(N_PARAM_DRAWS)])
    print(f"random draws: {time.time() - t_start:.1f}s")

    # -- policy table ------------------------------------------------------------------
    names = ["shearX", "shearY", "translateX", "translateY", "rotate", "color", "posterize",
             "solarize", "contrast", "sharpness", "brightness", "autocontrast", "equalize",
             "invert"]
    code_to_name = {}
    for nm in names:
        sp = randaugment.SubPolicy(1.0, nm, 0, 1.0, nm, 0)
        code_to_name[sp.operation1.__code__] = nm
    table = []
    for sp in policy.policies:
        table.append((code_to_name[sp.operation1.__code__], sp.p1, float(sp.magnitude1),
                      code_to_name[sp.operation2.__code__], sp.p2, float(sp.magnitude2)))
    out["policy_table"] = np.array([repr(t) for t in table])

    # -- fixed-parameter outputs ---------------------------------------------------------
    fp = fixed_params(len(src))
    fsrc = [pils[k] for k in fp["src"]]
    fixed = {}
    fixed["normalise"] = np.stack([normalise(to_tensor(im)).numpy().transpose(1, 2, 0)
                                   for im in fsrc])

    crop = t0[0]
    res = []
    for (top, left), im in zip(fp["crop"], fsrc):
        crop.get_params = lambda img, output_size, a=top, b=left: (int(a), int(b), SIZE, SIZE)
        res.append(np.asarray(crop(im)))
    del crop.get_params
    fixed["crop_pad4"] = np.stack(res)
    fixed["hflip"] = np.stack([np.asarray(F.hflip(im)) for im in fsrc])

    res = []
    for (y, x), im in zip(fp["cutout"], fsrc):
        seq = iter([int(y), int(x)])
        old = np.random.randint
        np.random.randint = lambda *a, **k: next(seq)
        try:
            res.append(unnormalise_plain(cut(to_tensor(im))))
        finally:
            np.random.randint = old
    fixed["cutout"] = np.stack(res)

    res = []
    for box, im in zip(fp["rrc"], fsrc):
        rrc.get_params = lambda img, scale, ratio, b=tuple(int(v) for v in box): b
        res.append(np.asarray(rrc(im)))
    del rrc.get_params
    fixed["rrc"] = np.stack(res)

    res = []
    for order, (b, c, s, h), im in zip(fp["cj_order"], fp["cj_factors"], fsrc):
        jitter.get_params = (lambda *a, o=order, f=(b, c, s, h):
                             (torch.tensor(o), float(f[0]), float(f[1]), float(f[2]),
                              float(f[3])))
        res.append(np.asarray(jitter(im)))
    del jitter.get_params
    fixed["jitter"] = np.stack(res)
    fixed["hue"] = np.stack([np.asarray(F.adjust_hue(im, float(h)))
                             for h, im in zip(fp["hue"], fsrc)])
    fixed["grayscale"] = np.stack([np.asarray(F.rgb_to_grayscale(im, 3)) for im in fsrc])

    # AutoAugment ops through the official SubPolicy (p1 = 1, p2 = 0), sign forced; keyed by
    # the magnitude value, for every (op, magnitude) the official table uses
    used = {(op1, m1) for op1, _, m1, _, _, _ in table} | {(op2, m2) for _, _, _, op2, _, m2 in table}
    real_random = randaugment.random
    try:
        for op in names:
            done = set()
            for midx in range(10):
                mag = float(randaugment.SubPolicy(1.0, op, midx, 0.0, "invert", 0).magnitude1)
                if (op, mag) not in used or mag in done:
                    continue
                done.add(mag)
                for sign in ((-1, 1) if op in SIGNED else (1,)):
                    randaugment.random = types.SimpleNamespace(
                        random=real_random.random, randint=real_random.randint,
                        choice=lambda seq, s=sign: s)
                    sp = randaugment.SubPolicy(1.0, op, midx, 0.0, "invert", 0)
                    fixed[aa_key(op, mag, sign)] = np.stack([np.asarray(sp(im)) for im in fsrc])
    finally:
        randaugment.random = real_random
    for k, v in fixed.items():
        out["fixed_" + k] = v
    np.savez(opts.out, **out)
    print(f"wrote {opts.out} ({time.time() - t_start:.1f}s)")


def unnormalise_plain(t):
    """[0, 1] CHW tensor (ToTensor output, before Normalize) -> uint8 HWC."""
    x = t.detach().cpu().numpy().astype(np.float64) * 255.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def aa_key(op, magnitude, sign):
    return f"aa_{op}_{magnitude:.4f}_{sign:+d}"


# ----------------------------------------------------------------------------------------
# keras-lt side


class StubRng:
    """A stand-in for ``np.random.Generator`` that returns given values, in order."""

    def __init__(self, random=(), integers=(), uniform=(), permutation=()):
        self._q = {"random": list(random), "integers": list(integers),
                   "uniform": list(uniform), "permutation": list(permutation)}

    def _next(self, kind):
        return self._q[kind].pop(0)

    def random(self, size=None):
        v = self._next("random")
        return np.full(size, v) if size is not None else v

    def integers(self, low, high=None, size=None):
        v = self._next("integers")
        return np.full(size, v) if size is not None else v

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._next("uniform")

    def permutation(self, n):
        return np.asarray(self._next("permutation"))


def run_keras_lt(opts):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from keras_lt.data import augment as A

    idx, src = load_sources(opts.data, opts.n, opts.select_seed)
    out = {"src_index": idx, "src": src}
    t_start = time.time()
    worst = 0.0
    for key, name in (("view0", "cifar_autoaug"), ("view1", "cifar_simaug")):
        view = A.make_view(name, MEAN, STD, SIZE)
        arr = np.empty((opts.reps, len(src), SIZE, SIZE, 3), np.uint8)
        for r in range(opts.reps):
            rng = np.random.default_rng([opts.seed, r, 0 if key == "view0" else 1])
            for s in range(0, len(src), 128):                # batches, as the loader does
                x = view(src[s:s + 128], rng).astype(np.float64)
                x = (x * np.array(STD) + np.array(MEAN)) * 255.0
                rnd = np.rint(x)
                worst = max(worst, float(np.abs(x - rnd).max()))
                arr[r, s:s + 128] = np.clip(rnd, 0, 255).astype(np.uint8)
        out[key] = arr
    out["unnormalise_max_err"] = np.float64(worst)
    ops = {
        "op_jitter": lambda im, rng: np.asarray(A.color_jitter(im, rng, 0.4, 0.4, 0.4, 0.1)),
        "op_policy": lambda im, rng: A.cifar10_autoaugment(im, rng),
        "op_rrc": lambda im, rng: np.asarray(A.random_resized_crop(im, rng, SIZE)),
    }
    for j, (key, fn) in enumerate(ops.items()):
        arr = np.empty((opts.reps, len(src), SIZE, SIZE, 3), np.uint8)
        for r in range(opts.reps):
            rng = np.random.default_rng([opts.seed, r, 10 + j])
            for i, im in enumerate(src):
                arr[r, i] = fn(im, rng)
        out[key] = arr
    rng = np.random.default_rng([opts.seed, 99])
    out["rrc_params"] = np.array([A.random_resized_crop_params(SIZE, SIZE, rng)
                                  for _ in range(N_PARAM_DRAWS)])
    ones = np.ones((SIZE, SIZE, 3), np.uint8)
    out["cutout_area"] = np.array([int((A.cutout(ones, rng, 1, 16)[..., 0] == 0).sum())
                                   for _ in range(N_PARAM_DRAWS)])
    print(f"random draws: {time.time() - t_start:.1f}s")

    table = []
    for op1, p1, m1, op2, p2, m2 in A.CIFAR10_POLICY:
        table.append((op1, p1, float(A.AUTOAUG_RANGES[op1][m1]), op2, p2,
                      float(A.AUTOAUG_RANGES[op2][m2])))
    out["policy_table"] = np.array([repr(t) for t in table])

    fp = fixed_params(len(src))
    fsrc = [src[k] for k in fp["src"]]
    fixed = {}
    fixed["normalise"] = np.stack([A.normalize(im, MEAN, STD) for im in fsrc])
    fixed["crop_pad4"] = np.stack([
        A.random_crop_flip(im, StubRng(integers=[int(t), int(l)]), SIZE, 4, flip=False)
        for (t, l), im in zip(fp["crop"], fsrc)])
    fixed["hflip"] = np.stack([A.horizontal_flip(im, StubRng(random=[0.0])) for im in fsrc])
    fixed["cutout"] = np.stack([A.cutout(im, StubRng(integers=[int(y), int(x)]), 1, 16)
                                for (y, x), im in zip(fp["cutout"], fsrc)])
    res = []
    real = A.random_resized_crop_params
    try:
        for box, im in zip(fp["rrc"], fsrc):
            A.random_resized_crop_params = lambda *a, b=tuple(int(v) for v in box), **k: b
            res.append(np.asarray(A.random_resized_crop(im, None, SIZE)))
    finally:
        A.random_resized_crop_params = real
    fixed["rrc"] = np.stack(res)
    fixed["jitter"] = np.stack([
        np.asarray(A.color_jitter(im, StubRng(permutation=[o], uniform=list(f)),
                                  0.4, 0.4, 0.4, 0.1))
        for o, f, im in zip(fp["cj_order"], fp["cj_factors"], fsrc)])
    fixed["hue"] = np.stack([np.asarray(A.adjust_hue(A._to_pil(im), float(h)))
                             for h, im in zip(fp["hue"], fsrc)])
    fixed["grayscale"] = np.stack([np.asarray(A.random_grayscale(im, StubRng(random=[0.0])))
                                   for im in fsrc])
    used = sorted({(op, float(A.AUTOAUG_RANGES[op][m])) for row in A.CIFAR10_POLICY
                   for op, m in ((row[0], row[2]), (row[3], row[5]))})
    for op, mag in used:
        for sign in ((-1, 1) if op in SIGNED else (1,)):
            u = 0.25 if sign > 0 else 0.75                 # _sign: +1 iff rng.random() < 0.5
            fixed[aa_key(op, mag, sign)] = np.stack([
                np.asarray(A.autoaugment_op(A._to_pil(im), op, mag, StubRng(random=[u])))
                for im in fsrc])
    for k, v in fixed.items():
        out["fixed_" + k] = v
    np.savez(opts.out, **out)
    print(f"wrote {opts.out} ({time.time() - t_start:.1f}s)")


# ----------------------------------------------------------------------------------------
# compare (NumPy; Pillow for the equalize attribution)


def per_sample_metrics(x, src):
    """x: (R, N, H, W, 3) uint8, src: (N, H, W, 3) -> dict of (R, N) float arrays."""
    xf = x.astype(np.float32) / 255.0
    sf = src.astype(np.float32)[None] / 255.0
    m = {}
    for c, ch in enumerate("RGB"):
        m[f"mean {ch}"] = xf[..., c].mean(axis=(2, 3))
        m[f"_sq {ch}"] = (xf[..., c] ** 2).mean(axis=(2, 3))
    m["contrast (per-image std)"] = xf.std(axis=(2, 3, 4))
    m["saturation (max-min)"] = (xf.max(-1) - xf.min(-1)).mean(axis=(2, 3))
    m["gray image (R=G=B)"] = ((x[..., 0] == x[..., 1]) & (x[..., 1] == x[..., 2])
                               ).all(axis=(2, 3)).astype(np.float32)
    m["black px (0,0,0)"] = (x == 0).all(-1).mean(axis=(2, 3))
    m["fill px (128,128,128)"] = (x == 128).all(-1).mean(axis=(2, 3))
    m["white px (255,255,255)"] = (x == 255).all(-1).mean(axis=(2, 3))
    m["|x - src| mean"] = np.abs(xf - sf).mean(axis=(2, 3, 4))
    m["|x - src| min(flip)"] = np.minimum(m["|x - src| mean"],
                                          np.abs(xf - sf[:, :, :, ::-1]).mean(axis=(2, 3, 4)))
    gx = np.abs(np.diff(xf, axis=3)).mean(axis=(2, 3, 4))
    gy = np.abs(np.diff(xf, axis=2)).mean(axis=(2, 3, 4))
    m["sharpness (mean |grad|)"] = 0.5 * (gx + gy)
    return m


def hist(x, bins=256):
    h = np.bincount(x.reshape(-1), minlength=256).astype(np.float64)
    if bins != 256:
        h = h.reshape(bins, -1).sum(1)
    return h / h.sum()


def tv(p, q):
    return 0.5 * float(np.abs(p - q).sum())


NULL_Z = []      # every null z printed, for the summary line


def compare_arrays(name, a, b, null, src, lines, boot=200):
    """Table of metric means: official (a), keras-lt (b), difference, SE, z; null row z."""
    ma, mb, mn = (per_sample_metrics(v, src) for v in (a, b, null))
    n = a.shape[1]
    lines.append(f"\n=== {name}: {a.shape[0]} draws x {n} source images per side ===")
    lines.append(f"{'metric':28s} {'official':>10s} {'keras-lt':>10s} {'diff':>10s} "
                 f"{'SE':>9s} {'z':>7s} {'null z':>7s}")

    def row(label, va, vb, vn):
        sa, sb, sn = va.mean(0), vb.mean(0), vn.mean(0)        # per source image
        d, dn = sa - sb, sa - sn
        se = d.std(ddof=1) / math.sqrt(n)
        sen = dn.std(ddof=1) / math.sqrt(n)
        z = d.mean() / se if se > 0 else (0.0 if d.mean() == 0 else math.inf)
        zn = dn.mean() / sen if sen > 0 else (0.0 if dn.mean() == 0 else math.inf)
        flag = "  <--" if abs(z) > 3 else ""
        NULL_Z.append(zn)
        lines.append(f"{label:28s} {sa.mean():10.5f} {sb.mean():10.5f} {d.mean():+10.5f} "
                     f"{se:9.5f} {z:+7.2f} {zn:+7.2f}{flag}")

    for k in ma:
        if not k.startswith("_"):
            row(k, ma[k], mb[k], mn[k])
    # pooled per-channel std, SE by a paired bootstrap over source images
    g = np.random.default_rng(0)
    for ch in "RGB":
        def pooled(m, sel):
            mu = m[f"mean {ch}"].mean(0)[sel].mean()
            return math.sqrt(m[f"_sq {ch}"].mean(0)[sel].mean() - mu * mu)
        full = np.arange(n)
        d = pooled(ma, full) - pooled(mb, full)
        dn = pooled(ma, full) - pooled(mn, full)
        bs, bsn = [], []
        for _ in range(boot):
            sel = g.integers(0, n, n)
            bs.append(pooled(ma, sel) - pooled(mb, sel))
            bsn.append(pooled(ma, sel) - pooled(mn, sel))
        se, sen = float(np.std(bs)), float(np.std(bsn))
        flag = "  <--" if abs(d / se) > 3 else ""
        NULL_Z.append(dn / sen)
        lines.append(f"{'pixel std ' + ch:28s} {pooled(ma, full):10.5f} {pooled(mb, full):10.5f} "
                     f"{d:+10.5f} {se:9.5f} {d / se:+7.2f} {dn / sen:+7.2f}{flag}")
    # histograms
    for bins in (256, 32):
        ha, hb, hn = hist(a, bins), hist(b, bins), hist(null, bins)
        lines.append(f"pixel-value histogram ({bins} bins, all channels): TV(official, keras-lt) "
                     f"= {tv(ha, hb):.5f}; TV(official, official seed 2) = {tv(ha, hn):.5f}")
    ha, hb, hn = hist(a), hist(b), hist(null)
    top = np.argsort(-np.abs(ha - hb))[:5]
    lines.append("  largest bin differences (value: official, keras-lt, null): " + "; ".join(
        f"{v}: {ha[v]:.5f}, {hb[v]:.5f}, {hn[v]:.5f}" for v in top))


def compare_params(a, b, null, lines):
    lines.append("\n=== RandomResizedCrop parameters (top, left, h, w on 32x32): "
                 f"{len(a)} draws per side ===")

    def stats(p):
        top, left, h, w = p.T.astype(np.float64)
        return {"area fraction h*w/1024": h * w / 1024.0,
                "log(w/h)": np.log(w / h),
                "h": h, "w": w, "top + h/2 (centre y)": top + h / 2,
                "left + w/2 (centre x)": left + w / 2,
                "full image (0,0,32,32)": ((h == 32) & (w == 32)).astype(np.float64)}

    sa, sb, sn = stats(a), stats(b), stats(null)
    lines.append(f"{'statistic':28s} {'official':>10s} {'keras-lt':>10s} {'diff':>10s} "
                 f"{'SE':>9s} {'z':>7s} {'null z':>7s}")
    for k in sa:
        va, vb, vn = sa[k], sb[k], sn[k]
        se = math.sqrt(va.var() / len(va) + vb.var() / len(vb))
        sen = math.sqrt(va.var() / len(va) + vn.var() / len(vn))
        d, dn = va.mean() - vb.mean(), va.mean() - vn.mean()
        z = d / se if se else 0.0
        zn = dn / sen if sen else 0.0
        flag = "  <--" if abs(z) > 3 else ""
        NULL_Z.append(zn)
        lines.append(f"{k:28s} {va.mean():10.5f} {vb.mean():10.5f} {d:+10.5f} {se:9.5f} "
                     f"{z:+7.2f} {zn:+7.2f}{flag}")

    def joint(p):
        h = np.zeros((33, 33))
        np.add.at(h, (p[:, 2], p[:, 3]), 1)
        return h / h.sum()
    lines.append(f"joint (h, w) histogram: TV(official, keras-lt) = {tv(joint(a), joint(b)):.5f}; "
                 f"TV(official, official seed 2) = {tv(joint(a), joint(null)):.5f}")


def compare_cutout(a, b, null, lines):
    lines.append(f"\n=== Cutout hole area (pixels) on a 32x32 image: {len(a)} draws per side ===")
    se = math.sqrt(a.var() / len(a) + b.var() / len(b))
    sen = math.sqrt(a.var() / len(a) + null.var() / len(null))
    lines.append(f"mean area: official {a.mean():.3f}, keras-lt {b.mean():.3f}, diff "
                 f"{a.mean() - b.mean():+.3f} (SE {se:.3f}, z {(a.mean() - b.mean()) / se:+.2f}; "
                 f"null z {(a.mean() - null.mean()) / sen:+.2f}); analytic 14^2 = 196")
    ha = np.bincount(a, minlength=257) / len(a)
    hb = np.bincount(b, minlength=257) / len(b)
    hn = np.bincount(null, minlength=257) / len(null)
    lines.append(f"area histogram: TV(official, keras-lt) = {tv(ha, hb):.5f}; TV(official, "
                 f"official seed 2) = {tv(ha, hn):.5f}; min/max area official {a.min()}/{a.max()}, "
                 f"keras-lt {b.min()}/{b.max()}")


def compare_fixed(a, b, lines):
    lines.append("\n=== Fixed-parameter outputs (same source image and same parameters on "
                 "both sides) ===")
    lines.append(f"{'case':34s} {'images':>6s} {'differ':>6s} {'px differ':>10s} "
                 f"{'max |d|':>8s} {'mean |d|':>9s}")
    keys = sorted(k for k in a.files if k.startswith("fixed_"))
    missing = sorted(set(k for k in b.files if k.startswith("fixed_")) ^ set(keys))
    if missing:
        lines.append(f"cases on one side only: {missing}")
    total = 0
    for k in keys:
        if k not in b.files:
            continue
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        d = np.abs(x - y)
        per_img = d.reshape(len(d), -1).max(1)
        differ = int((per_img > (1e-6 if k == "fixed_normalise" else 0)).sum())
        total += differ
        px = float((d.max(-1) > (1e-6 if k == "fixed_normalise" else 0)).mean())
        lines.append(f"{k[6:]:34s} {len(d):6d} {differ:6d} {px:10.5f} {d.max():8.3g} "
                     f"{d.mean():9.3g}")
        if differ and d.ndim == 4 and k != "fixed_normalise":
            ring = np.zeros(d.shape[1:3], bool)
            ring[0] = ring[-1] = ring[:, 0] = ring[:, -1] = True
            dp = d.max(-1) > 0
            lines.append(f"{'':34s} where: outer 1-px ring {dp[:, ring].mean():.4f} of pixels "
                         f"differ (mean |d| {d[:, ring].mean():.3f} levels), interior "
                         f"{dp[:, ~ring].mean():.4f} (mean |d| {d[:, ~ring].mean():.4f})")
    lines.append(f"images that differ, all cases: {total}")


def attribution(a, b, lines):
    """Size of the two implementation differences the fixed-parameter checks and the policy
    tables expose, on the metrics above."""
    lines.append("\n=== Attribution: expected effect of the differences found ===")
    fo, fk = a["fixed_rrc"], b["fixed_rrc"]
    mo, mk = per_sample_metrics(fo[None], fo), per_sample_metrics(fk[None], fo)
    lines.append("RandomResizedCrop with the same box on both sides (fixed_rrc), official - keras-lt:")
    for k in ("mean G", "contrast (per-image std)", "saturation (max-min)",
              "sharpness (mean |grad|)"):
        d = mo[k][0] - mk[k][0]
        lines.append(f"  {k:28s} {d.mean():+.5f} (SE {d.std(ddof=1) / math.sqrt(len(d)):.5f})")
    ta, tb = list(a["policy_table"]), list(b["policy_table"])
    if ta != tb:
        from PIL import Image, ImageOps
        src = a["src"][:4000]
        eq = np.stack([np.asarray(ImageOps.equalize(Image.fromarray(x))) for x in src])
        m0, m1 = per_sample_metrics(src[None], src), per_sample_metrics(eq[None], src)
        lines.append("CIFAR10Policy sub-policy 16 (equalize p=0.2, then equalize p=0.6 official / "
                     "0.8 keras-lt): P(at least one equalize) 0.68 vs 0.84, so keras-lt equalizes "
                     "an extra 0.16/25 = 0.64% of images. Effect of equalize on a source image x "
                     "0.64%, i.e. the expected official - keras-lt difference of 'CIFAR10Policy "
                     "alone' (" + f"{len(src)} source images):")
        for k in ("mean G", "contrast (per-image std)", "saturation (max-min)",
                  "sharpness (mean |grad|)", "|x - src| mean"):
            d = (m1[k][0] - m0[k][0]).mean()
            lines.append(f"  {k:28s} equalize effect {d:+.5f}; expected diff {-d * 0.16 / 25:+.6f}")
    lines.append(f"largest |null z| in this report (official vs official, another seed): "
                 f"{max(abs(z) for z in NULL_Z):.2f} over {len(NULL_Z)} rows")


def run_compare(opts):
    a = np.load(opts.official)
    b = np.load(opts.keras_lt)
    null = np.load(opts.official_null)
    lines = []
    for z in (b, null):
        if not np.array_equal(a["src_index"], z["src_index"]):
            sys.exit("the dumps were made from different source images")
    lines.append(f"source images: {len(a['src_index'])} of the train split; draws per image: "
                 f"official {a['view0'].shape[0]}, keras-lt {b['view0'].shape[0]}")
    lines.append("columns: means over all draws; diff = official - keras-lt; SE = standard error "
                 "of diff over source images (paired); z = diff / SE; null z = the same for "
                 "official vs official with another seed. '<--' marks |z| > 3.")
    lines.append(f"un-normalisation: largest distance from an integer pixel level: official "
                 f"{float(a['unnormalise_max_err']):.2e}, keras-lt "
                 f"{float(b['unnormalise_max_err']):.2e}")
    ta, tb = list(a["policy_table"]), list(b["policy_table"])
    same = [x == y for x, y in zip(ta, tb)]
    lines.append(f"CIFAR10Policy table (op, p, magnitude) x 25: {sum(same)}/{len(ta)} "
                 f"sub-policies identical" + ("" if all(same) else ": differ at " + ", ".join(
                     f"{i}: {ta[i]} vs {tb[i]}" for i, s in enumerate(same) if not s)))
    src = a["src"]
    for key, title in (("view0", "view 0: crop+flip+CIFAR10Policy+Cutout (cifar_autoaug)"),
                       ("view1", "view 1: RRC+flip+ColorJitter p.8+gray p.2 (cifar_simaug)"),
                       ("op_jitter", "ColorJitter(0.4, 0.4, 0.4, 0.1) alone (always applied)"),
                       ("op_policy", "CIFAR10Policy alone"),
                       ("op_rrc", "RandomResizedCrop(32) alone")):
        compare_arrays(title, a[key], b[key], null[key], src, lines)
    compare_params(a["rrc_params"], b["rrc_params"], null["rrc_params"], lines)
    compare_cutout(a["cutout_area"], b["cutout_area"], null["cutout_area"], lines)
    compare_fixed(a, b, lines)
    attribution(a, b, lines)
    text = "\n".join(lines)
    print(text)
    if opts.report:
        Path(opts.report).parent.mkdir(parents=True, exist_ok=True)
        header = Path(opts.header).read_text() if opts.header else ""
        Path(opts.report).write_text(header + text + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("official", "keras-lt"):
        p = sub.add_parser(name)
        p.add_argument("--data", default="data_cache/cifar10-lt-if100")
        p.add_argument("--n", type=int, default=2000, help="source images")
        p.add_argument("--reps", type=int, default=4, help="draws per source image")
        p.add_argument("--select-seed", type=int, default=0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", required=True)
        if name == "official":
            p.add_argument("--official-dir", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--official", required=True)
    p.add_argument("--official-null", required=True, help="an official dump with another seed")
    p.add_argument("--keras-lt", required=True)
    p.add_argument("--report", help="also write the table here")
    p.add_argument("--header", help="text file put at the top of --report (e.g. the commands)")
    opts = ap.parse_args(argv)
    {"official": run_official, "keras-lt": run_keras_lt, "compare": run_compare}[opts.cmd](opts)


if __name__ == "__main__":
    main()
