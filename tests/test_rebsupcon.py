"""Reb-SupCon end to end on tiny synthetic data: MoCo momentum update, labelled
queue, gradient statistics, prototypes, save/load on this and another backend."""

import json

import keras
import numpy as np
import pytest
from keras import ops

from helpers import two_view_data
from keras_lt.models import RebSupCon

C, B, STEPS = 4, 8, 3


def make_model(**kw):
    args = dict(backbone="resnet20", num_classes=C, class_counts=[40, 20, 8, 4],
                input_shape=(16, 16, 3), feat_dim=8, head_hidden=16, queue_size=16,
                num_prototypes=6, weight_decay=5e-4)
    args.update(kw)
    model = RebSupCon(**args)
    model.build((None, 16, 16, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def data(seed=0):
    return two_view_data(C, B, STEPS, seed=seed)


def np_(v):
    return ops.convert_to_numpy(v)


@pytest.mark.parametrize("opts", [{}, {"rebalance": "inverse", "proto_weights": "order"},
                                  {"use_rebalance": False, "use_prototypes": False}])
def test_rebsupcon_trains_and_fills_its_state(opts):
    model = make_model(**opts)
    x, y = data()
    hist = model.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    labels = np_(model.queue_labels)
    assert (labels >= 0).sum() == 16 and set(labels.tolist()) <= set(range(C))   # 48 keys, 16 kept
    assert int(np_(model.queue_ptr)) == (2 * STEPS * B) % 16
    assert np.all(np_(model.grad_seen) == 1) and np.all(np_(model.grad_norm) > 0)
    w = np_(model.class_weights())
    if opts.get("use_rebalance", True) is False:
        np.testing.assert_allclose(w, 1.0)
    elif opts.get("rebalance") == "inverse":
        assert np.all(w > 1)
    else:
        assert np.all((w > 0) & (w < 1))
    assert model.predict(x[0], verbose=0).shape == (len(y), C)


def test_key_encoder_is_a_momentum_average_of_the_query_encoder():
    model = make_model(momentum=0.5)
    x, y = data()
    pairs = model._pairs
    assert pairs and all(not k.trainable for k, _ in pairs)
    assert all(not v.trainable for v in model.key_backbone.weights)
    for k, q in pairs:                                   # starts as a copy
        np.testing.assert_array_equal(np_(k), np_(q))
    model.fit(x, y, batch_size=B, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    key_before = [np_(k) for k, _ in pairs]
    query_before = [np_(q) for _, q in pairs]
    model.fit(x, y, batch_size=B, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    # MoCo order: the EMA uses the query weights *before* this step's update
    for (k, q), kb, qb in zip(pairs, key_before, query_before):
        np.testing.assert_allclose(np_(k), 0.5 * kb + 0.5 * qb, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(np_(q), qb) for (_, q), qb in zip(pairs, query_before))


def test_rebsupcon_round_trip_and_other_backend(tmp_path):
    from conftest import TESTS
    from helpers import OTHER_BACKEND, run_on_backend

    model = make_model()
    x, y = data()
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    model.save_weights(tmp_path / "model.weights.h5")
    other = make_model()
    other.load_weights(tmp_path / "model.weights.h5")
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(np_(a), np_(b))
    (tmp_path / "model.json").write_text(json.dumps(keras.saving.serialize_keras_object(model)))
    np.savez(tmp_path / "inputs.npz", x=x[0])
    backend = OTHER_BACKEND[keras.backend.backend()]
    run_on_backend(backend, TESTS / "load_and_predict.py", tmp_path / "model.json",
                   tmp_path / "model.weights.h5", tmp_path / "inputs.npz", tmp_path / "out.npz")
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["preds"], model.predict(x[0], verbose=0), rtol=1e-5, atol=1e-5)
    for i, v in enumerate(model.weights):
        np.testing.assert_allclose(out[f"var{i}"], np_(v), rtol=1e-6, atol=1e-6)


def test_rebsupcon_rejects_bad_options():
    with pytest.raises(ValueError, match="rebalance"):
        make_model(rebalance="both")
    with pytest.raises(ValueError, match="proto_weights"):
        make_model(proto_weights="x")


def test_queue_wraps_around_exactly():
    """FIFO ring of size 16 fed batches of 8, 8, 5 (a short last batch), 8, 8 equals a
    NumPy ring buffer, labels included."""
    model = make_model()
    rng = np.random.default_rng(0)
    ring_k = np.zeros((16, 8), "float32")
    ring_y = -np.ones(16, "int32")
    ptr = 0
    for n in (8, 8, 5, 8, 8):
        keys = rng.normal(size=(n, 8)).astype("float32")
        labels = rng.integers(0, C, size=n).astype("int32")
        model.enqueue(keys, labels)
        for i in range(n):
            ring_k[(ptr + i) % 16], ring_y[(ptr + i) % 16] = keys[i], labels[i]
        ptr = (ptr + n) % 16
        np.testing.assert_array_equal(np_(model.queue_keys), ring_k)
        np.testing.assert_array_equal(np_(model.queue_labels), ring_y)
        assert int(np_(model.queue_ptr)) == ptr


def test_classifier_weight_scales_only_the_classifier_term():
    model = make_model()
    x, y = data()
    images = [v[:B] for v in x]
    labels = ops.convert_to_tensor(y[:B])
    out = model(images, training=True)          # one forward pass, reused for every weight
    losses = {}
    for w in (0.0, 1.0, 3.0):
        model.classifier_weight = w
        losses[w] = float(np_(model.compute_loss(y=labels, y_pred=out, training=False)))
    cls = float(np_(model.classification_loss(labels, out["logits"])))
    assert cls > 0
    np.testing.assert_allclose(losses[1.0] - losses[0.0], cls, rtol=1e-5)
    np.testing.assert_allclose(losses[3.0] - losses[0.0], 3 * cls, rtol=1e-5)
    assert make_model(classifier_weight=2.5).get_config()["classifier_weight"] == 2.5
