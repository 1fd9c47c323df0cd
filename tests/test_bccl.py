"""BCCL end to end on tiny synthetic data: warm-up, centroid refresh, queues, save/load."""

import keras
import numpy as np
import pytest
from keras import ops

from helpers import two_view_data
from keras_lt.models import BCCL

C, B, STEPS = 4, 8, 2


def make_model(**kw):
    args = dict(backbone="resnet20", num_classes=C, class_counts=[40, 20, 8, 4],
                input_shape=(16, 16, 3), feat_dim=8, head_hidden=16, queue_size=6,
                num_centroids=2, warmup_epochs=1, refresh_every=1, steps_per_epoch=STEPS,
                kmeans_iters=3, weight_decay=5e-4)
    args.update(kw)
    model = BCCL(**args)
    model.build((None, 16, 16, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def data(seed=0):
    return two_view_data(C, B, STEPS, seed=seed)


@pytest.mark.parametrize("centroid_loss", ["paper", "reference"])
def test_bccl_trains_past_warmup_with_centroids(centroid_loss):
    model = make_model(centroid_loss=centroid_loss)
    x, y = data()
    hist = model.fit(x, y, batch_size=B, epochs=3, shuffle=False, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert int(ops.convert_to_numpy(model.steps)) == 3 * STEPS
    cen = ops.convert_to_numpy(model.centroids)
    assert cen.shape == (C, 2, 8)
    assert np.all(np.linalg.norm(cen, axis=-1) > 0.1)     # refreshed from the queues
    assert ops.convert_to_numpy(model.queue.count).tolist() == [6] * C
    logits = model.predict(x[0], verbose=0)
    assert logits.shape == (len(y), C)


def test_bccl_weights_round_trip_with_queues(tmp_path):
    model = make_model()
    x, y = data()
    model.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    path = tmp_path / "bccl.weights.h5"
    model.save_weights(path)
    other = make_model()
    other.load_weights(path)
    for a, b in ((model.queue.features, other.queue.features), (model.centroids, other.centroids),
                 (model.steps, other.steps)):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    np.testing.assert_allclose(model.predict(x[0], verbose=0), other.predict(x[0], verbose=0),
                               atol=1e-5)


def test_bccl_rejects_bad_options():
    with pytest.raises(ValueError, match="centroid_loss"):
        make_model(centroid_loss="nope")
    with pytest.raises(ValueError, match="centroid_norm"):
        make_model(centroid_norm="batch")
    with pytest.raises(ValueError, match="scl_count"):
        make_model(scl_count="plain")
    with pytest.raises(ValueError, match="class_counts"):
        make_model(class_counts=[1, 2])


def test_bccl_checkpoint_loads_on_another_backend(tmp_path):
    """Train past warm-up here, save; a fresh process on the next backend
    (torch -> TF -> JAX -> torch over the three CI runs) rebuilds the model from
    its config (safe_mode), loads the weights and predicts the same logits and
    holds the same queues and centroids."""
    import json

    from conftest import TESTS
    from helpers import OTHER_BACKEND, run_on_backend

    model = make_model()
    x, y = data()
    model.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    (tmp_path / "model.json").write_text(json.dumps(keras.saving.serialize_keras_object(model)))
    model.save_weights(tmp_path / "model.weights.h5")
    np.savez(tmp_path / "inputs.npz", x=x[0])
    other = OTHER_BACKEND[keras.backend.backend()]
    run_on_backend(other, TESTS / "load_and_predict.py", tmp_path / "model.json",
                   tmp_path / "model.weights.h5", tmp_path / "inputs.npz", tmp_path / "out.npz")
    out = np.load(tmp_path / "out.npz")
    assert str(out["backend"]) == other
    np.testing.assert_allclose(out["preds"], model.predict(x[0], verbose=0), rtol=1e-5, atol=1e-5)
    mine = [ops.convert_to_numpy(v) for v in model.weights]
    assert len(mine) == len([k for k in out.files if k.startswith("var")])
    for i, v in enumerate(mine):
        np.testing.assert_allclose(out[f"var{i}"], v, rtol=1e-6, atol=1e-6)
    assert np.abs(ops.convert_to_numpy(model.centroids)).sum() > 0   # past warm-up: real centroids


def test_loss_terms_follow_the_paper_and_reference_switches():
    """After the warm-up: eq. 6 (centroids in the contrast set) unless ``complement=False``
    (eq. 2, the code); eq. 5 scaled by the chosen |C|; the printed plain-sum SCL; and
    during the warm-up no centroid loss and no centroids in the contrast."""
    from keras_lt.losses.contrastive import (
        centroid_contrastive_loss, class_averaged_supcon_loss)

    rng = np.random.default_rng(3)
    f = rng.normal(size=(B, 2, 8)).astype("float32")
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    y = np.array([0, 0, 1, 1, 2, 3, 0, 1], "int32")
    logits = rng.normal(size=(B, C)).astype("float32")
    cen = (0.5 * rng.normal(size=(C, 2, 8))).astype("float32")
    after, during = ops.convert_to_tensor(False), ops.convert_to_tensor(True)

    def terms(model, warm=after):
        return {k: float(ops.convert_to_numpy(v))
                for k, v in model.loss_terms(f, y, logits, cen, warm).items()}

    paper, code = terms(make_model()), terms(make_model(complement=False))
    plain = float(ops.convert_to_numpy(class_averaged_supcon_loss(f, y, C, 0.1)))
    assert code["scl"] == pytest.approx(plain, rel=1e-6)
    assert abs(paper["scl"] - plain) > 1e-3
    assert terms(make_model(), during)["scl"] == pytest.approx(plain, rel=1e-6)
    assert terms(make_model(), during)["centroid"] == 0.0
    for norm in ("class", "all", "anchor"):
        got = terms(make_model(centroid_norm=norm))["centroid"]
        want = float(ops.convert_to_numpy(centroid_contrastive_loss(f, y, cen, 0.1, norm=norm)))
        assert got == pytest.approx(want, rel=1e-6), norm
    printed = terms(make_model(scl_count="printed"))["scl"]
    assert abs(printed - paper["scl"]) > 1e-3
    assert set(terms(make_model(use_lc=False))) == {"ce", "scl", "centroid"}
    assert set(terms(make_model(use_scl=False, use_centroid_loss=False))) == {"lc"}


def test_a_loaded_model_compiles_for_the_loading_backend():
    """A saved compile config keeps its optimizer but not its jit_compile: a model saved on
    JAX (XLA on) loaded on torch must not run torch.compile."""
    from keras_lt.utils.jit import resolve_jit

    model = make_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=not resolve_jit())
    loaded = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert loaded.jit_compile == resolve_jit()
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)
