"""Class-wise FIFO queues: batched update against a per-sample Python reference."""

import numpy as np
from keras import ops

from keras_lt.layers.queues import ClassQueue


def reference_update(store, count, head, feats, labels, size):
    """One sample at a time, the obvious FIFO."""
    for f, y in zip(feats, labels):
        store[y, head[y]] = f
        head[y] = (head[y] + 1) % size
        count[y] = min(count[y] + 1, size)


def test_batched_update_equals_sequential_fifo():
    rng = np.random.default_rng(0)
    C, M, D = 5, 4, 3
    q = ClassQueue(C, M, D)
    store, count, head = np.zeros((C, M, D), "float32"), np.zeros(C, int), np.zeros(C, int)
    # batches with repeated classes, a class with more than M samples, absent classes
    for step in range(6):
        labels = rng.choice([0, 0, 1, 2, 4], size=rng.integers(1, 12))
        if step == 3:
            labels = np.array([1] * 9 + [3])
        feats = rng.normal(size=(len(labels), D)).astype("float32")
        q.update(feats, labels)
        reference_update(store, count, head, feats, labels, M)
        np.testing.assert_allclose(ops.convert_to_numpy(q.features), store, atol=0)
        assert ops.convert_to_numpy(q.count).tolist() == count.tolist()
        assert ops.convert_to_numpy(q.head).tolist() == head.tolist()
    mask = ops.convert_to_numpy(q.valid_mask())
    assert mask.sum(axis=1).tolist() == count.tolist()


def test_queue_state_is_saved_with_the_weights(tmp_path):
    import keras

    q = ClassQueue(3, 2, 2, name="queue")
    q.update(np.ones((3, 2), "float32"), np.array([0, 2, 2]))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.queue = q
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.queue = ClassQueue(3, 2, 2, name="queue")
    other.load_weights(path)
    assert ops.convert_to_numpy(other.queue.count).tolist() == [1, 0, 2]
    np.testing.assert_array_equal(ops.convert_to_numpy(other.queue.features),
                                  ops.convert_to_numpy(q.features))
