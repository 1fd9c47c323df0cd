"""Loss parity with the official BCCL/BCL ``LogitAdjust`` (tests/fixtures/logit_adjust.npz)."""

import keras
import numpy as np
import pytest
from keras import ops

from conftest import FIXTURES
from helpers import rel_err, value_and_grad
from keras_lt.losses import (
    BalancedSoftmaxLoss,
    CrossEntropy,
    LogitAdjustedLoss,
    balanced_softmax_cross_entropy,
    cross_entropy,
    get_loss,
    log_class_prior,
    logit_adjusted_cross_entropy,
)

ORACLE = np.load(FIXTURES / "logit_adjust.npz")
CASES = [str(c) for c in ORACLE["case_names"]]


@pytest.mark.parametrize("case", CASES)
def test_logit_adjust_matches_reference(case):
    z = {k.split("/", 1)[1]: ORACLE[k] for k in ORACLE.files if k.startswith(case + "/")}
    tau = float(z["tau"])
    prior = log_class_prior(z["cls_num_list"])
    np.testing.assert_allclose(tau * prior, z["m_list_f64"], rtol=1e-12)
    targets = z["targets"].astype("int32")

    def fn(logits):
        return logit_adjusted_cross_entropy(targets, logits, prior.astype("float32"), tau)

    loss, (grad,) = value_and_grad(fn, z["logits"].astype("float32"))
    assert rel_err(loss, z["loss_f64"]) < 1e-5
    assert rel_err(grad, z["dloss_dlogits_f64"]) < 1e-5


def test_logit_adjust_reduces_to_ce_with_tau_zero():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5)).astype("float32")
    y = rng.integers(0, 5, size=8)
    prior = log_class_prior([100, 50, 20, 5, 1]).astype("float32")
    a = float(logit_adjusted_cross_entropy(y, logits, prior, 0.0))
    b = float(cross_entropy(y, logits))
    ref = -np.mean(logits[np.arange(8), y] - np.log(np.exp(logits).sum(1)))
    assert abs(a - b) < 1e-6 and abs(b - ref) < 1e-5


def test_balanced_softmax_equals_logit_adjust_tau1():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(16, 10)).astype("float32")
    y = rng.integers(0, 10, size=16)
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    bs = float(balanced_softmax_cross_entropy(y, logits, counts))
    la = float(logit_adjusted_cross_entropy(y, logits, log_class_prior(counts).astype("float32"), 1.0))
    assert abs(bs - la) < 1e-5
    # the rare class' loss is larger than under CE: the prior pushes its logit down
    y_rare = np.full(16, 9)
    assert float(balanced_softmax_cross_entropy(y_rare, logits, counts)) > float(cross_entropy(y_rare, logits))


def test_loss_objects_and_registry():
    counts = [10, 5, 1]
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], "float32")
    y = np.array([0, 2])
    assert isinstance(get_loss("ce", counts), CrossEntropy)
    la = get_loss("logit_adjusted", counts, tau=1.5)
    assert isinstance(la, LogitAdjustedLoss) and la.tau == 1.5
    assert isinstance(get_loss("balanced_softmax", counts), BalancedSoftmaxLoss)
    expect = float(logit_adjusted_cross_entropy(y, logits, log_class_prior(counts).astype("float32"), 1.5))
    assert abs(float(la(y, logits)) - expect) < 1e-6
    # serialisable
    again = keras.losses.deserialize(keras.losses.serialize(la))
    assert again.class_counts == counts and again.tau == 1.5
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        get_loss("focal", counts)
    with pytest.raises(ValueError, match="non-negative"):
        log_class_prior([3, -1])


def test_cross_entropy_shapes_accept_column_labels():
    logits = ops.convert_to_tensor(np.zeros((4, 3), "float32"))
    assert abs(float(cross_entropy(np.zeros((4, 1), "int64"), logits)) - np.log(3)) < 1e-6
