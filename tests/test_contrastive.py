"""Parity of the contrastive losses with the official code's outputs and gradients
(fixtures copied from ../shared/oracles; see its README sections 1, 1b and 2).

Float64 on torch and TensorFlow (match ``_f64`` to 1e-9 relative); JAX runs in
float32 unless x64 is enabled, so there the inputs are float32 and the tolerance is
the oracle README's float32 one (rtol 1e-5, atol 1e-6)."""

import keras
import numpy as np
import pytest

from conftest import FIXTURES
from helpers import value_and_grad
from keras_lt.losses.contrastive import (
    bccl_reference_centroid_loss, centroid_contrastive_loss, class_averaged_supcon_loss,
    nearest_subclass, supcon_loss, view_major)

F64 = keras.backend.backend() != "jax"
DTYPE = np.float64 if F64 else np.float32
RTOL, ATOL = (1e-9, 1e-12) if F64 else (1e-5, 1e-6)


def load(name):
    with np.load(FIXTURES / name, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


HOBBIT = load("supcon_hobbitlong.npz")
BCCL = load("bccl_supcon.npz")
BCL = load("bcl_balscl.npz")


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", list(HOBBIT["case_names"]))
def test_supcon_matches_hobbitlong(case):
    g = {k.split("/", 1)[1]: v for k, v in HOBBIT.items() if k.startswith(case + "/")}
    labels = g["labels"] if bool(g["uses_labels"]) else None
    t, bt, mode = float(g["temperature"]), float(g["base_temperature"]), str(g["contrast_mode"])
    value, (grad,) = value_and_grad(
        lambda f: supcon_loss(f, labels, t, bt, mode), g["features"].astype(DTYPE))
    close(value, g["loss_f64"])
    close(grad, g["dloss_dfeatures_f64"])


@pytest.mark.parametrize("case", list(BCCL["case_names"]))
def test_bccl_scl_matches_reference(case):
    """BCCL's SupConLoss (warm-up branch == main branch, as the oracle asserts)."""
    g = {k.split("/", 1)[1]: v for k, v in BCCL.items() if k.startswith(case + "/")}
    C, t = len(g["cls_num_list"]), float(g["temperature"])
    value, (grad,) = value_and_grad(
        lambda f: class_averaged_supcon_loss(f, g["labels"], C, t, count="bccl_reference"),
        g["features"].astype(DTYPE))
    close(value, g["loss_warmup_f64"])
    close(value, g["loss_f64"])
    close(grad, g["dloss_dfeatures_f64"])


@pytest.mark.parametrize("case", list(BCCL["case_names"]))
def test_bccl_reference_centroid_loss(case):
    g = {k.split("/", 1)[1]: v for k, v in BCCL.items() if k.startswith(case + "/")}
    value, (gf, ga) = value_and_grad(
        lambda f, a: bccl_reference_centroid_loss(f, g["labels"], a),
        g["features"].astype(DTYPE), g["average"].astype(DTYPE))
    close(value, g["average_loss_f64"])
    close(gf, g["daverage_loss_dfeatures_f64"])
    close(ga, g["daverage_loss_daverage_f64"])


@pytest.mark.parametrize("case", list(BCL["case_names"]))
def test_bcl_balanced_contrast_with_class_centres(case):
    """BCL's BalSCL = class-averaging with the exact class mean + one centre per class."""
    g = {k.split("/", 1)[1]: v for k, v in BCL.items() if k.startswith(case + "/")}
    C, t = len(g["cls_num_list"]), float(g["temperature"])
    value, (gf, gc) = value_and_grad(
        lambda f, c: class_averaged_supcon_loss(f, g["targets"], C, t, prototypes=c,
                                                prototype_labels=np.arange(C)),
        g["features"].astype(DTYPE), g["centers"].astype(DTYPE))
    close(value, g["loss_f64"])
    close(gf, g["dloss_dfeatures_f64"])
    close(gc, g["dloss_dcenters_f64"])


def test_distinct_labels_reduce_to_supcon():
    """With every class a singleton, BCCL's weights are all 1: plain SupCon (oracle note)."""
    g = {k.split("/", 1)[1]: v for k, v in BCCL.items() if k.startswith("c10_b8_distinct/")}
    f, y, t = g["features"].astype(DTYPE), g["labels"], float(g["temperature"])
    a = keras.ops.convert_to_numpy(class_averaged_supcon_loss(f, y, 10, t, count="bccl_reference"))
    b = keras.ops.convert_to_numpy(supcon_loss(f, y, t, t))
    close(a, float(b))


def _numpy_centroid_loss(f, y, mu, t, valid=None, norm="class"):
    """Direct numpy transcription of BCCL eq. 5 as documented in the loss; centroids
    with ``valid == 0`` are not in the contrast set (an anchor without positives adds 0).
    ``norm``: |C| = k ("class"), every valid centroid ("all") or 0 ("anchor")."""
    b, v, d = f.shape
    c, k, _ = mu.shape
    valid = np.ones((c, k)) if valid is None else valid
    z = np.concatenate([f[:, i] for i in range(v)])
    ids = np.tile(y, v)
    sub = []
    for i in range(len(z)):
        dist = ((mu[ids[i]] - z[i]) ** 2).sum(-1)
        allowed = valid[ids[i]] > 0 if valid[ids[i]].any() else np.ones(k, bool)
        sub.append(ids[i] * k + np.argmin(np.where(allowed, dist, np.inf)))
    sub = np.array(sub)
    contrast = np.concatenate([z, mu.reshape(c * k, d)])
    csub = np.concatenate([sub, np.arange(c * k)])
    in_set = np.concatenate([np.ones(len(z), bool), valid.reshape(-1) > 0])
    total = 0.0
    for i in range(len(z)):
        s = contrast @ z[i] / t
        others = [j for j in range(len(contrast)) if j != i and in_set[j]]
        log_den = np.log(np.sum(np.exp(s[others])))
        pos = [j for j in others if csub[j] == sub[i]]
        total += np.mean([s[p] - log_den for p in pos]) if pos else 0.0
    size_c = {"class": k, "all": int(valid.sum()), "anchor": 0}[norm]
    return -total / (len(z) + size_c)


def test_centroid_contrastive_loss_eq5():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(6, 2, 8))
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    y = np.array([0, 1, 1, 2, 0, 1])
    mu = rng.normal(size=(3, 2, 8)) * 0.5
    for norm in ("class", "all", "anchor"):
        got = keras.ops.convert_to_numpy(centroid_contrastive_loss(
            f.astype(DTYPE), y, mu.astype(DTYPE), 0.1, norm=norm))
        np.testing.assert_allclose(float(got), _numpy_centroid_loss(f, y, mu, 0.1, norm=norm),
                                   rtol=1e-5 if not F64 else 1e-10)
    with pytest.raises(ValueError, match="unknown norm"):
        centroid_contrastive_loss(f.astype(DTYPE), y, mu.astype(DTYPE), 0.1, norm="batch")
    sub = keras.ops.convert_to_numpy(nearest_subclass(
        view_major(f.astype(DTYPE)), np.tile(y, 2).astype("int32"), mu.astype(DTYPE)))
    assert np.all(sub // 2 == np.tile(y, 2))           # always a centroid of the own class


def test_invalid_prototypes_are_the_same_as_absent_ones():
    """Centroids of classes with empty queues (valid = 0) must not enter eq. 6 or eq. 5:
    masking them gives the loss computed without them."""
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 2, 8))
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    y = np.array([0, 1, 1, 2, 0, 1])
    mu = rng.normal(size=(4, 2, 8)) * 0.5          # class 3: absent from the batch
    valid = np.ones((4, 2))
    valid[2] = 0                                   # class 2's queue is empty
    valid[3, 1] = 0
    keep = valid.reshape(-1) > 0
    proto_labels = np.repeat(np.arange(4), 2).astype("int32")
    flat = mu.reshape(-1, 8)
    for count in ("contrast", "bccl_reference"):
        masked = class_averaged_supcon_loss(f.astype(DTYPE), y, 4, 0.1, flat.astype(DTYPE),
                                            proto_labels, count, prototype_valid=valid.reshape(-1))
        dropped = class_averaged_supcon_loss(f.astype(DTYPE), y, 4, 0.1,
                                             flat[keep].astype(DTYPE), proto_labels[keep], count)
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(masked)),
                                   float(keras.ops.convert_to_numpy(dropped)), rtol=1e-6)
        # every prototype masked (BCCL's warm-up) == the loss without prototypes (eq. 2)
        none = class_averaged_supcon_loss(f.astype(DTYPE), y, 4, 0.1, flat.astype(DTYPE),
                                          proto_labels, count, prototype_valid=np.zeros(8))
        bare = class_averaged_supcon_loss(f.astype(DTYPE), y, 4, 0.1, count=count)
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(none)),
                                   float(keras.ops.convert_to_numpy(bare)), rtol=1e-6)
    got = centroid_contrastive_loss(f.astype(DTYPE), y, mu.astype(DTYPE), 0.1,
                                    centroid_valid=valid.astype(DTYPE), norm="all")
    assert np.isfinite(float(keras.ops.convert_to_numpy(got)))
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(got)),
                               _numpy_centroid_loss(f, y, mu, 0.1, valid, norm="all"), rtol=1e-5)
    full = centroid_contrastive_loss(f.astype(DTYPE), y, mu.astype(DTYPE), 0.1, norm="all")
    assert abs(float(keras.ops.convert_to_numpy(full)) - float(keras.ops.convert_to_numpy(got))) > 1e-3


@pytest.mark.parametrize("num_classes", [10, 100, 1000, 8142])
def test_centroid_loss_scale_at_many_classes(num_classes):
    """BCCL eq. 5's term must not vanish as C grows. The loss scale against the
    per-anchor mean (``norm="anchor"``) at B = 128, V = 2, k = 5 is N_B / (N_B + k) =
    256/261 = 0.981 for the default |C| = k at every C, while |C| = C*k ("all") gives
    256 / (256 + 5C): 0.837, 0.339, 0.0487, 0.00625 at C = 10, 100, 1000, 8142."""
    rng = np.random.default_rng(num_classes)
    b, k, d = 128, 5, 16
    f = rng.normal(size=(b, 2, d)).astype(np.float32)
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    y = rng.integers(0, min(num_classes, 20), size=b)
    mu = (0.5 * rng.normal(size=(num_classes, k, d))).astype(np.float32)
    loss = {norm: float(keras.ops.convert_to_numpy(centroid_contrastive_loss(
        f, y, mu, 0.1, norm=norm))) for norm in ("class", "all", "anchor")}
    assert loss["anchor"] > 1.0                      # a real contrastive loss, not ~0
    np.testing.assert_allclose(loss["class"] / loss["anchor"], 256 / 261, rtol=1e-5)
    np.testing.assert_allclose(loss["all"] / loss["anchor"], 256 / (256 + k * num_classes),
                               rtol=1e-5)
    assert loss["class"] > 0.9 * loss["anchor"]      # the default never shrinks with C


def test_printed_scl_is_the_plain_sum():
    """``count="printed"`` (BCCL eqs. 2 and 6 as printed) has no class-averaging: without
    prototypes it is SupCon with T_base = T; the class-averaged default differs."""
    g = {k.split("/", 1)[1]: v for k, v in BCCL.items() if k.startswith("c10_b32/")}
    f, y, t = g["features"].astype(DTYPE), g["labels"], float(g["temperature"])
    printed = keras.ops.convert_to_numpy(class_averaged_supcon_loss(f, y, 10, t, count="printed"))
    close(printed, float(keras.ops.convert_to_numpy(supcon_loss(f, y, t, t))))
    averaged = keras.ops.convert_to_numpy(class_averaged_supcon_loss(f, y, 10, t))
    assert abs(float(averaged) - float(printed)) > 1e-3
    with pytest.raises(ValueError, match="unknown count"):
        class_averaged_supcon_loss(f, y, 10, t, count="plain")
