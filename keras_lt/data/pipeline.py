"""Multi-view training/eval input pipeline as a ``keras.utils.PyDataset``.

``make_loader(split, views, batch_size, mean, std, ...)`` returns a
:class:`MultiViewLoader`: batch ``i`` is ``(x, y)`` with ``x`` a float32
``(B, H, W, 3)`` array for one view, or a tuple with one array per view (the
same images under independent augmentations, in ``views`` order), and ``y``
the int32 labels ``(B,)``.

Determinism / resume: the sample order of epoch ``e`` is the permutation drawn
from ``np.random.default_rng([seed, e])`` (identity when ``shuffle=False``)
and batch ``i`` of that epoch is augmented with
``np.random.default_rng([seed, e, i])``. A batch therefore depends only on
``(seed, epoch, i)``, not on which worker computes it or when, and a run
resumed at epoch ``e`` (``set_epoch(e)`` or ``epoch=e``) sees exactly the
batches the uninterrupted run would have seen. Keras calls
:meth:`MultiViewLoader.on_epoch_end` after every epoch, which advances the
epoch. Note that ``model.fit(loader)`` defaults to ``shuffle=True``, which for
a PyDataset makes keras visit the *batch indices* in a random order of its own
(Python ``random``); the batches' contents are unchanged but their order is
then not reproducible -- pass ``shuffle=False`` to ``fit`` (the loader already
shuffles) for a fully reproducible run.

Workers: ``workers`` threads of the loader's own compute the next
``max_queue_size`` (default ``2 * workers``) batches of the current epoch
ahead of the one keras asks for; ``workers=0`` computes each batch on demand
in the calling thread. Keras is handed ``PyDataset(workers=1)`` so that it
iterates in its own thread without its ``OrderedEnqueuer``: in keras 3.15 that
enqueuer keeps the batches it prefetched while ``fit`` peeks at batch 0 to
build the model and serves them at the start of the next epoch, so every
epoch would be shifted by a timing-dependent number of batches (duplicates
and omissions within an epoch). Prefetch keyed by ``(epoch, index)`` avoids
that: a prefetched batch is only ever returned for the request it was made
for. Threads rather than processes: the augmentations are Pillow C code
(which releases the GIL) plus NumPy, the target machine has 2 CPU cores
shared with the training step, and processes would pickle every batch back
and pay a backend import per worker; ``benchmarks/bench_pipeline.py``
measures workers 0/1/2.

Nothing here imports TensorFlow: keras itself only imports it on the
TensorFlow backend.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import keras

from keras_lt.data.augment import VIEW_RECIPES, View, make_view

__all__ = ["MultiViewLoader", "make_loader"]


class MultiViewLoader(keras.utils.PyDataset):
    """Deterministic multi-view batches of a prepared split (see module doc)."""

    def __init__(self, split, views: Sequence[str] | str, batch_size: int, mean, std,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = True,
                 workers: int = 2, epoch: int = 0, image_size: int | None = None,
                 max_queue_size: int | None = None):
        # Prefetching is done here, not by keras' OrderedEnqueuer: in keras 3.15
        # the enqueuer keeps the batches it prefetched during fit's model-build
        # peek and serves them at the start of the next epoch, which shifts
        # every epoch by a few (timing-dependent) batches. Keras is told to
        # iterate in the main thread (workers=1, no enqueuer); ``workers``
        # threads of our own compute the next batches of the current epoch.
        super().__init__(workers=1, use_multiprocessing=False, max_queue_size=1)
        self.num_workers = max(0, int(workers))
        self.prefetch = (max(2, 2 * self.num_workers) if max_queue_size is None
                         else int(max_queue_size))
        self._pool = None
        self._futures: dict = {}
        if isinstance(views, str):
            views = [views]
        views = list(views)
        if not views:
            raise ValueError("at least one view is required")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.split = split
        self.view_names = views
        self.views: list[View] = [make_view(v, mean, std, image_size) for v in views]
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.labels = np.asarray(split.labels).astype(np.int32)
        self.num_samples = len(split)
        if self.num_samples != len(self.labels):
            raise ValueError(f"split has {self.num_samples} items but {len(self.labels)} labels")
        if drop_last and self.num_samples < self.batch_size:
            raise ValueError(f"drop_last with batch_size {batch_size} > {self.num_samples} "
                             "samples leaves no batch")
        self._lock = threading.Lock()
        self._epoch = int(epoch)
        self._served: set[int] = set()       # batch indices served in the current epoch
        self._perm_cache: tuple[int, np.ndarray] | None = None

    # -- epochs ---------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order/augmentations the next batches use (resume)."""
        with self._lock:
            self._epoch = int(epoch)
            self._served.clear()

    def on_epoch_end(self) -> None:
        """Advance to the next epoch -- if the current one was served in full.

        Keras calls ``on_epoch_end`` at the end of every epoch, but also from
        ``fit``'s set-up (after it peeks at batch 0 to build the model and
        metrics) and from iterator resets. Counting those would shift the
        epoch numbering, so the epoch only advances once every batch index of
        the current epoch has been requested; after a partial pass it stays
        (and its record of served batches is cleared). :meth:`epoch_callback`
        ties the epoch to keras' own epoch counter instead.
        """
        with self._lock:
            if len(self._served) >= len(self):
                self._epoch += 1
            self._served.clear()

    def epoch_callback(self, offset: int = 0) -> "keras.callbacks.Callback":
        """A callback for ``fit`` that sets the loader's epoch to keras' epoch + offset.

        Exact under ``fit(..., initial_epoch=e)`` resumes and ``steps_per_epoch``
        shorter than the loader.
        """
        return _EpochSync(self, offset)

    def permutation(self, epoch: int | None = None) -> np.ndarray:
        """Sample order of ``epoch`` (default: the current one)."""
        epoch = self._epoch if epoch is None else int(epoch)
        with self._lock:
            cached = self._perm_cache
            if cached is not None and cached[0] == epoch:
                return cached[1]
            if self.shuffle:
                perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
            else:
                perm = np.arange(self.num_samples)
            self._perm_cache = (epoch, perm)
            return perm

    # -- batches --------------------------------------------------------------
    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def batch_indices(self, index: int, epoch: int | None = None) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        perm = self.permutation(epoch)
        return perm[index * self.batch_size:(index + 1) * self.batch_size]

    def get_batch(self, index: int, epoch: int | None = None):
        """Batch ``index`` of ``epoch`` (default current): ``(x, y)``."""
        epoch = self._epoch if epoch is None else int(epoch)
        idx = self.batch_indices(index, epoch)
        # sorted reads are friendlier to memory-mapped storage; restore order after
        order = np.argsort(idx, kind="stable")
        images = self.split.get_batch(idx[order])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        if isinstance(images, np.ndarray):
            images = images[inverse]
        else:
            images = [images[j] for j in inverse]
        rng = np.random.default_rng([self.seed, epoch, int(index)])
        xs = tuple(view(images, rng) for view in self.views)
        y = self.labels[idx]
        return (xs[0] if len(xs) == 1 else xs), y

    def __getitem__(self, index: int):
        index = int(index)
        with self._lock:
            epoch = self._epoch
            self._served.add(index)
            if self.num_workers == 0:
                future = None
            else:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor
                    self._pool = ThreadPoolExecutor(self.num_workers,
                                                    thread_name_prefix="keras_lt_loader")
                # drop stale work (other epochs), then queue this batch and the next ones
                for key in [k for k in self._futures if k[0] != epoch]:
                    self._futures.pop(key).cancel()
                for j in range(index, min(len(self), index + 1 + self.prefetch)):
                    if (epoch, j) not in self._futures:
                        self._futures[(epoch, j)] = self._pool.submit(self.get_batch, j, epoch)
                future = self._futures.pop((epoch, index))
        if future is None:
            return self.get_batch(index, epoch)
        return future.result()

    def close(self) -> None:
        """Stop the prefetch threads (they are restarted on demand)."""
        with self._lock:
            for f in self._futures.values():
                f.cancel()
            self._futures.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return (f"MultiViewLoader(views={self.view_names}, batch_size={self.batch_size}, "
                f"batches={len(self)}, epoch={self._epoch}, seed={self.seed})")


class _EpochSync(keras.callbacks.Callback):
    def __init__(self, loader: MultiViewLoader, offset: int = 0):
        super().__init__()
        self.loader = loader
        self.offset = int(offset)

    def on_epoch_begin(self, epoch, logs=None):
        self.loader.set_epoch(epoch + self.offset)


def make_loader(split, views, batch_size: int, mean, std, shuffle: bool = True,
                seed: int = 0, drop_last: bool = True, workers: int = 2, epoch: int = 0,
                image_size: int | None = None, **kwargs) -> MultiViewLoader:
    """Build a :class:`MultiViewLoader`; ``views`` are names from ``VIEW_RECIPES``.

    ``max_queue_size`` (keyword): how many batches ahead the worker threads
    compute (default ``2 * workers``).
    """
    return MultiViewLoader(split, views, batch_size, mean, std, shuffle=shuffle, seed=seed,
                           drop_last=drop_last, workers=workers, epoch=epoch,
                           image_size=image_size, **kwargs)


KNOWN_VIEWS = tuple(VIEW_RECIPES)
