"""Class-wise FIFO feature queues (BCCL eq. 3), ``keras.ops`` only.

:class:`ClassQueue` keeps, for each of C classes, the last M detached,
L2-normalised features of that class: ``features`` (C, M, D), ``count`` (C,) how
many slots are filled (saturates at M) and ``head`` (C,) the next slot to write.
They are non-trainable Keras variables, so they are saved in checkpoints and
restored on resume (BCCL's reference code keeps its queue in a Python list, which
is lost on resume).

The update is one batched scatter (no Python loop over classes): the r-th sample
of class c in the batch goes to slot ``(head[c] + r) mod M``; when a batch holds
more than M samples of a class only its last M are written, so no slot is written
twice in one update (duplicate scatter indices are ordered differently per backend).
"""

import keras
from keras import ops

__all__ = ["ClassQueue", "queue_slots"]


def queue_slots(labels, head, num_classes, size):
    """Where each sample of a batch goes in its class queue.

    Returns ``(slot (N,) int32, keep (N,) bool, per_class (C,) int32)``: the slot of
    sample i in class ``labels[i]``'s queue, whether it is written (only each
    class's last ``size`` samples of the batch are), and the batch count per class.
    """
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    onehot = ops.one_hot(labels, num_classes, dtype="int32")                  # (N, C)
    rank = ops.sum((ops.cumsum(onehot, axis=0) - onehot) * onehot, axis=1)    # r-th of class
    per_class = ops.sum(onehot, axis=0)                                       # (C,)
    n_of_own = ops.take(per_class, labels)
    keep = rank >= n_of_own - size
    slot = ops.mod(ops.take(ops.cast(head, "int32"), labels) + rank, size)
    return slot, keep, per_class


@keras.saving.register_keras_serializable(package="keras_lt")
class ClassQueue(keras.layers.Layer):
    """One FIFO queue of M feature vectors per class (BCCL eq. 3).

    Args:
        num_classes: C.
        size: M, slots per class (BCCL default 100).
        dim: D, feature size.

    Call :meth:`update` with (N, D) features and (N,) labels inside a train step
    (the features are detached); read :attr:`features` (C, M, D) and
    :meth:`valid_mask` (C, M).

    Example:
    >>> q = ClassQueue(num_classes=3, size=4, dim=2)
    >>> q.update(np.eye(2, dtype="float32")[[0, 1, 0]], np.array([2, 2, 0]))
    >>> ops.convert_to_numpy(q.count).tolist()
    [1, 0, 2]
    """

    def __init__(self, num_classes, size=100, dim=128, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.size = int(size)
        self.dim = int(dim)
        self.features = self.add_weight(shape=(self.num_classes, self.size, self.dim),
                                        initializer="zeros", trainable=False,
                                        name="features")
        self.count = self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                     dtype="int32", trainable=False, name="count")
        self.head = self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                    dtype="int32", trainable=False, name="head")
        self.built = True

    def valid_mask(self, dtype="float32"):
        """(C, M) 1 for filled slots, 0 for empty ones."""
        filled = ops.arange(self.size, dtype="int32")[None, :] < ops.convert_to_tensor(
            self.count)[:, None]
        return ops.cast(filled, dtype)

    def update(self, features, labels):
        """Write a batch of (N, D) features of classes ``labels`` (N,) into the queues."""
        features = ops.stop_gradient(ops.cast(features, self.features.dtype))
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        slot, keep, per_class = queue_slots(labels, self.head, self.num_classes, self.size)
        # dropped samples are routed to an extra scratch row that is cut off afterwards
        flat_index = ops.where(keep, labels * self.size + slot, self.num_classes * self.size)
        table = ops.concatenate([
            ops.reshape(ops.convert_to_tensor(self.features), (-1, self.dim)),
            ops.zeros((1, self.dim), dtype=self.features.dtype)], axis=0)
        written = ops.scatter_update(table, flat_index[:, None], features)
        self.features.assign(ops.reshape(written[:-1], (self.num_classes, self.size, self.dim)))
        self.head.assign(ops.mod(ops.convert_to_tensor(self.head) + per_class, self.size))
        self.count.assign(ops.minimum(ops.convert_to_tensor(self.count) + per_class, self.size))

    def call(self, inputs=None):
        return ops.convert_to_tensor(self.features)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "size": self.size,
                "dim": self.dim}
