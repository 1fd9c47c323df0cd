"""The training loop behind ``tools/train.py``: recipe -> data -> model -> ``model.fit``.

A run directory holds everything needed to resume and evaluate:

``checkpoint/``         the resume point, one atomic unit (see :mod:`keras_lt.train.checkpoint`):
                        the last epoch's model *and optimizer* state, the best-on-val
                        epoch's weights and ``state.json``, with a record of their hashes
``config.yaml``         the resolved recipe (after overrides)
``last.weights.h5``     model *and optimizer* state after the last finished epoch
``best.weights.h5``     weights with the best validation score (model selection
                        uses the validation split only, never test)
``state.json``          epoch, best score, history, timing, versions
``log.csv``             one row per epoch
``test_report.*``       the final test report of the best checkpoint (JSON, CSV, PNG)

The four plain files are copies of the checkpoint's, refreshed after each commit for
readers (evaluation, export); resuming reads only ``checkpoint/``.

``resume=True`` restores weights, optimizer slots and iteration count (so the
learning-rate schedule continues), the epoch, and the loader's epoch counter:
every batch's order and augmentation is a function of (seed, epoch, batch
index), so a resumed run sees exactly the batches the uninterrupted one would.
``resume_from`` starts from a copy of a checkpoint folder made elsewhere (``mirror``
keeps such a copy up to date after every epoch), e.g. on another machine.
"""

import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import yaml

from keras_lt.config import config_hash, validate_config
from keras_lt.data.catalog import get_dataset_info
from keras_lt.data.dataset import DatasetError, data_facts, load_data
from keras_lt.data.pipeline import make_loader
from keras_lt.eval.report import evaluate_model
from keras_lt.eval.runner import final_report
from keras_lt.hub.pretrained import PretrainedError, UnknownModelError
from keras_lt.losses import get_loss
from keras_lt.models.builder import build_method_model
from keras_lt.models.registry import get_method
from keras_lt.train.checkpoint import (CONFIG, STATE, CheckpointError, adopt_legacy,
                                       atomic_copy, atomic_write_json, atomic_write_text,
                                       check_optimizer_step, commit_epoch, mirror_checkpoint,
                                       publish_view, read_checkpoint)
from keras_lt.train.finetune import finetune_config, init_from_pretrained
from keras_lt.utils.jit import resolve_jit
from keras_lt.utils.precision import dtype_policy
from keras_lt.utils.runinfo import peak_rss_mb, run_info
from keras_lt.utils.schedules import EpochWarmupCosine, WarmupCosine
from keras_lt.utils.seed import set_seed


CHECKPOINT = "checkpoint"


class TrainingError(RuntimeError):
    """A run cannot start or resume (missing data, mismatched checkpoint, ...)."""


def fit_batch_size(cfg, num_samples):
    """The recipe with ``optim.batch_size`` lowered to fit a training split of
    ``num_samples`` images (every batch is full, so a larger batch would leave none): the
    largest power of two <= ``num_samples``, at least 2 for methods whose loss compares the
    samples of a batch (:attr:`~keras_lt.models.registry.Method.pairs`).
    Returns ``(cfg, note)``: ``cfg`` itself and ``None`` when the batch fits, else a
    changed copy and a one-line note for the console."""
    batch = int(cfg["optim"]["batch_size"])
    if num_samples >= batch:
        return cfg, None
    least = 2 if get_method(cfg.get("method", "baseline")).pairs else 1
    if num_samples < least:
        raise TrainingError(f"the training split has {num_samples} image(s); method "
                            f"{cfg.get('method', 'baseline')} needs at least {least}")
    fitted = 1 << (int(num_samples).bit_length() - 1)
    cfg = copy.deepcopy(cfg)
    cfg["optim"]["batch_size"] = fitted
    return cfg, (f"note: the training split has {num_samples} images, fewer than "
                 f"optim.batch_size {batch}; training with batch size {fitted} (choose "
                 f"another with --set optim.batch_size=N)")


def check_data_facts(cfg, ds):
    """Refuse a prepared dataset that is not the benchmark the recipe is written for: an
    unknown ``data.dataset``, or a ``data.imbalance_factor`` other than the one recorded in
    the data's provenance (e.g. an IF100 recipe pointed at an IF10 preparation). Data
    prepared without subsampling (your own) is not refused."""
    data = cfg["data"]
    if data.get("dataset") is not None:
        try:
            get_dataset_info(data["dataset"])
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
    want = data.get("imbalance_factor")
    have = ds.meta.get("provenance", {}).get("imbalance_factor")
    if want is not None and have is not None and float(have) != float(want):
        raise TrainingError(f"recipe {cfg.get('name')!r} is for imbalance factor {want:g} "
                            f"(data.imbalance_factor) but {data['prepared']} was prepared with "
                            f"imbalance factor {have:g}; prepare the data with --imbalance-factor "
                            f"{want:g}, or --set data.imbalance_factor=null to train on it anyway")


def check_run_dir(run_dir):
    """Refuse a run directory that cannot be created or written, before anything is built:
    the nearest existing folder on its path must be a writable directory."""
    run_dir = Path(run_dir)
    existing = next(p for p in (run_dir, *run_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise TrainingError(f"cannot create run directory {run_dir}: {existing} is not a "
                            f"directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrainingError(f"cannot create run directory {run_dir}: {existing} is not "
                            f"writable")


def create_run_dir(run_dir, cfg):
    """Create ``run_dir`` with the resolved recipe as ``config.yaml`` (also in
    ``checkpoint/``). A failure removes what this call created and raises
    :class:`TrainingError` naming the directory and the reason."""
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINT
    new = [p for p in (folder, *folder.absolute().parents) if not p.exists()]
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(cfg, sort_keys=False)
        for path in (run_dir / CONFIG, folder / CONFIG):
            written.append(path)
            atomic_write_text(path, text)
    except OSError as exc:
        for path in written:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        if new:
            shutil.rmtree(new[-1], ignore_errors=True)
        raise TrainingError(f"cannot write run directory {run_dir}: "
                            f"{exc.strerror or exc}") from None


def resolve_verbose(setting, stream=None):
    """Keras ``fit`` verbosity: ``"auto"`` is 1 (progress bars) on a terminal and 2 (one
    line per epoch) otherwise, so a log file gets no bar redraws or ANSI codes."""
    if setting != "auto":
        return int(setting)
    stream = sys.stdout if stream is None else stream
    try:
        return 1 if stream.isatty() else 2
    except (AttributeError, ValueError):
        return 2


def epochs_label(first, last):
    """``"epoch 3"`` or ``"epochs 3-5"`` (1-based, inclusive)."""
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"


SCHEDULES = ("warmup_cosine", "bccl_epoch")


def make_optimizer(cfg, steps_per_epoch):
    """SGD with the recipe's warm-up + cosine schedule (over the whole run):
    ``optim.schedule`` ``warmup_cosine`` (per step) or ``bccl_epoch`` (BCCL's code)."""
    optim = cfg["optim"]
    kind = optim.get("schedule", "warmup_cosine")
    if kind == "warmup_cosine":
        schedule = WarmupCosine(optim["lr"], total_steps=optim["epochs"] * steps_per_epoch,
                                warmup_steps=optim["warmup_epochs"] * steps_per_epoch,
                                min_lr=optim.get("min_lr", 0.0))
    elif kind == "bccl_epoch":
        schedule = EpochWarmupCosine(optim["lr"], optim["epochs"], steps_per_epoch,
                                     optim["warmup_epochs"])
    else:
        raise TrainingError(f"unknown optim.schedule {kind!r}; choose one of {SCHEDULES}")
    return keras.optimizers.SGD(schedule, momentum=optim["momentum"], nesterov=optim["nesterov"])


def compile_model(model, cfg, class_counts, steps_per_epoch):
    """Compile with a fresh optimizer and the recipe's loss (methods other than the
    baseline carry their loss in ``model.compute_loss``)."""
    jit = resolve_jit(cfg["runtime"]["jit_compile"])
    optimizer = make_optimizer(cfg, steps_per_epoch)
    if get_method(cfg.get("method", "baseline")).own_loss:
        # the method's training output is a dict (projections + logits), so accuracy
        # is measured on val instead
        model.compile(optimizer=optimizer, jit_compile=jit)
    else:
        loss_cfg = {k: v for k, v in cfg["loss"].items() if k != "name"}
        model.compile(optimizer=optimizer,
                      loss=get_loss(cfg["loss"]["name"], class_counts, **loss_cfg),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
                      jit_compile=jit)
    # the optimizer's slots now, not inside the first traced step: a tf.function that
    # creates variables is traced twice (TensorFlow's first step took twice as long)
    model.optimizer.build(model.trainable_variables)
    return model


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def build_with_precision(precision, build):
    """``build()`` under the dtype policy ``precision`` (one of :data:`PRECISIONS`); the
    global policy is restored afterwards. A model built under ``mixed_float16`` gets a
    ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling) when compiled."""
    if precision not in PRECISIONS:
        raise TrainingError(f"unknown runtime.precision {precision!r}; choose one of {PRECISIONS}")
    if precision == "float32":
        return build()           # the global policy untouched (it follows keras.config.floatx)
    with dtype_policy(precision):
        return build()


def build_training_model(cfg, num_classes, class_counts, image_shape, steps_per_epoch,
                         freeze_backbone=False):
    """Model compiled with the recipe's loss, SGD and warm-up + cosine schedule, in the
    recipe's ``runtime.precision``; ``freeze_backbone``: the backbone is not trained (and
    its BatchNorm uses its moving statistics)."""
    model = build_with_precision(
        cfg["runtime"].get("precision", "float32"),
        lambda: build_method_model(cfg, num_classes, class_counts, image_shape, steps_per_epoch))
    model.backbone.trainable = not freeze_backbone
    return compile_model(model, cfg, class_counts, steps_per_epoch)


def unfreeze_backbone(model, cfg, class_counts, steps_per_epoch, epoch):
    """End of a frozen-backbone phase: train everything from ``epoch`` on, with a new
    optimizer whose schedule continues at that epoch's step."""
    model.backbone.trainable = True
    compile_model(model, cfg, class_counts, steps_per_epoch)
    model.optimizer.iterations.assign(epoch * steps_per_epoch)


def optimizer_step(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


class EpochCheckpoint(keras.callbacks.Callback):
    """Validates and commits the checkpoint every epoch, then refreshes the run
    directory's plain files and the mirror (if any)."""

    def __init__(self, run_dir, state, val_fn, every, select_on, total_epochs, images_per_epoch,
                 mirror=None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.mirror = mirror
        self.state = state
        self.val_fn = val_fn
        self.every = max(int(every), 1)
        self.select_on = select_on
        self.total_epochs = total_epochs
        self.images_per_epoch = images_per_epoch
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self._t0
        row = {"epoch": epoch + 1, "seconds": round(seconds, 2),
               "images_per_s": round(self.images_per_epoch / max(seconds, 1e-9), 1),
               **{k: float(v) for k, v in (logs or {}).items()}}
        last = epoch + 1 == self.total_epochs
        improved = False
        if self.val_fn is not None and ((epoch + 1) % self.every == 0 or last):
            metrics = self.val_fn(self.model)
            row.update({f"val_{k}": metrics[k] for k in ("top1", "class_avg", "many", "medium", "few")})
            score = metrics[self.select_on]
            if self.state["best_score"] is None or score > self.state["best_score"]:
                self.state["best_score"] = score
                self.state["best_epoch"] = epoch + 1
                improved = True
            print(f"\nepoch {epoch + 1}: val {self.select_on} {100 * score:.2f}% "
                  f"(best {100 * self.state['best_score']:.2f}% at epoch {self.state['best_epoch']})",
                  flush=True)
        self.state["epoch"] = epoch + 1
        self.state["train_seconds"] = self.state.get("train_seconds", 0.0) + seconds
        self.state["history"].append(row)
        folder = self.run_dir / CHECKPOINT
        commit_epoch(folder, self.model, self.state, optimizer_step(self.model), improved)
        publish_view(folder, self.run_dir, self.state)
        if self.mirror is not None:
            mirror_checkpoint(folder, self.mirror)


class RunProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with the run's epoch count: ``Epoch 3/10`` in every ``fit`` of
    a run (a frozen-backbone phase and the rest are two ``fit`` calls, each of which would
    otherwise count to its own end and omit the line when it has one epoch)."""

    def __init__(self, total_epochs):
        super().__init__()
        self.total_epochs = int(total_epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.total_epochs}", flush=True)


class StepTimer(keras.callbacks.Callback):
    """Times a short run (``train(max_steps=...)``): seconds from ``started`` (the process
    start, as the caller measured it) to the end of the first training step, the steady
    images/s over the steps after the first ``skip``, and the peak resident memory."""

    def __init__(self, started, batch_size, skip=1):
        super().__init__()
        self.started, self.batch_size, self.skip = started, int(batch_size), int(skip)
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def summary(self):
        timed = self.ends[self.skip:]
        rate = None
        if len(timed) >= 2:
            rate = self.batch_size * (len(timed) - 1) / (timed[-1] - timed[0])
        return {"steps": len(self.ends), "batch_size": self.batch_size,
                "first_step_s": round(self.ends[0] - self.started, 2) if self.ends else None,
                "images_per_s": None if rate is None else round(rate, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1), "backend": keras.backend.backend()}


def open_resume_state(run_dir, resume_from=None):
    """The committed state to resume ``run_dir`` from, and the weights file to load.

    ``resume_from``: a checkpoint folder copied from elsewhere, verified and read in place
    (:func:`train` copies it into ``run_dir/checkpoint`` once the run has started). A run
    directory of the older layout (no ``checkpoint/``) is resumed from its plain files once
    its optimizer step is checked (see :func:`train`).
    Returns ``(state, weights_path, legacy)``."""
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINT
    try:
        if resume_from is not None:
            if (folder / STATE).exists() or (run_dir / STATE).exists():
                raise TrainingError(f"{run_dir} already holds a run; resume it with --resume "
                                    f"(without --resume-from) or choose another --run-dir")
            state, last, _ = read_checkpoint(resume_from)
            return state, last, False
        if (folder / STATE).exists():
            state, last, _ = read_checkpoint(folder)
            return state, last, False
    except CheckpointError as exc:
        raise TrainingError(f"cannot resume: {exc}") from None
    if (run_dir / STATE).is_file() and (run_dir / "last.weights.h5").is_file():
        return json.loads((run_dir / STATE).read_text()), run_dir / "last.weights.h5", True
    raise TrainingError(f"cannot resume: {run_dir} holds no checkpoint ({CHECKPOINT}/{STATE} "
                        f"is missing)")


def train(cfg, run_dir, resume=False, verbose="auto", stop_after=None, max_steps=None,
          started=None, resume_from=None, mirror=None):
    """Train a recipe (any method) into ``run_dir``; returns the final test metrics.

    ``stop_after``: train at most this many epochs in this call, then stop with
    everything checkpointed (continue with ``resume=True``); useful to split a
    long schedule into chunks that fit a time limit. Returns ``None`` when the
    schedule is not finished yet (no test report is written then).

    ``max_steps``: a timing run: train the schedule's first ``max_steps`` steps, write
    ``timing.json`` (see :class:`StepTimer`; ``started`` is the process start time on
    ``time.perf_counter``'s clock, default: when ``train`` is called) and stop; no
    checkpoint, validation or report.

    ``resume_from``: continue from a checkpoint folder copied from another run directory
    or machine (implies ``resume``). ``mirror``: a folder kept as a complete copy of the
    checkpoint after every epoch (for example under ``reports/``, so a long run survives a
    move to another machine).

    Nothing is written before the recipe (:func:`keras_lt.config.validate_config`), the run
    directory (:func:`check_run_dir`), the data and the model are checked and built, so a
    start that fails leaves no run directory. A training split smaller than
    ``optim.batch_size`` trains with a batch that fits (:func:`fit_batch_size`), recorded in
    the saved ``config.yaml``.
    """
    started = time.perf_counter() if started is None else started
    run_dir = Path(run_dir)
    resume = resume or resume_from is not None
    _check_start(cfg, run_dir, resume, max_steps)
    try:
        ds, mean, std, image_shape = load_data(cfg)
    except DatasetError as exc:
        raise TrainingError(str(exc)) from None
    check_data_facts(cfg, ds)
    train_split = ds.split("train")
    cfg, note = fit_batch_size(cfg, len(train_split))
    if note:
        print(note, flush=True)
    counts = [int(c) for c in ds.train_counts]
    optim = cfg["optim"]
    state, resume_weights, legacy = _run_state(cfg, run_dir, resume, resume_from, ds)
    # what the model is trained on, as resolved once here: export and evaluation read it
    state.setdefault("data", data_facts(ds, mean, std, image_shape))
    try:
        get_method(cfg.get("method", "baseline")).check_views(cfg["data"]["views"])
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    set_seed(int(cfg["seed"]))
    # every view makes images of the model's input size: the recipe's data.image_size, else
    # the dataset's own (never a view's CIFAR / ImageNet default)
    view_size = list(image_shape[:2])
    loader = _train_loader(cfg, train_split, mean, std, view_size)
    try:
        model, initial_epoch, frozen, found = _start_model(
            cfg, ds, counts, image_shape, len(loader), state if resume else None,
            resume_weights, legacy, run_dir, max_steps, copied=resume_from is not None)
        # nothing is written before this point: a start that fails leaves no run directory
        _install_run(cfg, run_dir, resume, resume_from, state)
    except BaseException:
        loader.close()
        raise
    if resume:
        loader.set_epoch(initial_epoch)
        if mirror is not None:      # the copy is complete from the start, not one epoch later
            mirror_checkpoint(run_dir / CHECKPOINT, mirror)
        print(f"resuming {run_dir} at epoch {initial_epoch} (optimizer step {found})")

    if max_steps is not None:
        return _timing_run(model, loader, run_dir, int(max_steps), optim["batch_size"],
                           started, verbose)

    val_fn = None
    if "val" in ds.splits:
        val_split = ds.split("val")

        def val_fn(m):
            return evaluate_model(m, val_split, counts, ds.class_names, mean, std,
                                  cfg["data"]["eval_view"], cfg["eval"]["batch_size"],
                                  view_size)

    ckpt = EpochCheckpoint(run_dir, state, val_fn, cfg["eval"]["every"], cfg["eval"]["select_on"],
                           optim["epochs"], len(loader) * optim["batch_size"], mirror=mirror)
    if verbose == "auto":
        verbose = cfg["runtime"].get("verbose", "auto")
    end_epoch = optim["epochs"]
    if stop_after is not None:
        end_epoch = min(end_epoch, initial_epoch + max(int(stop_after), 0))
    _fit(model, loader, cfg, counts, ckpt, initial_epoch, end_epoch, frozen,
         resolve_verbose(verbose))
    loader.close()
    if end_epoch < optim["epochs"]:
        print(f"stopped after epoch {end_epoch} of {optim['epochs']}; continue with "
              f"tools/train.py --run-dir {run_dir} --resume", flush=True)
        return None
    return final_report(model, ds, cfg, run_dir, state, mean, std)


def _check_start(cfg, run_dir, resume, max_steps):
    """The recipe's values, ``max_steps`` and (for a new run) the run directory, checked
    before anything is read or written."""
    validate_config(cfg)
    if max_steps is not None and (resume or int(max_steps) < 1):
        raise TrainingError(f"max_steps must be a positive number of steps of a new run, "
                            f"got {max_steps!r}{' with resume' if resume else ''}")
    if not resume:
        if (run_dir / STATE).exists() or (run_dir / CHECKPOINT / STATE).exists():
            raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it "
                                f"or choose another --run-dir")
        check_run_dir(run_dir)


def _run_state(cfg, run_dir, resume, resume_from, ds):
    """``(state, resume weights, legacy)``: the committed state of a resumed run (its recipe
    must be this one) or the fresh state of a new run (``None, False`` for the rest)."""
    if not resume:
        state = {"epoch": 0, "best_score": None, "best_epoch": None, "history": [],
                 "config_hash": config_hash(cfg), "select_on": cfg["eval"]["select_on"],
                 "versions": run_info(), "dataset": str(cfg["data"]["prepared"]),
                 "dataset_provenance": ds.meta.get("provenance", {}), "train_seconds": 0.0}
        return state, None, False
    state, resume_weights, legacy = open_resume_state(run_dir, resume_from)
    if state.get("config_hash") != config_hash(cfg):
        raise TrainingError(f"cannot resume {run_dir}: its recipe (hash {state.get('config_hash')}) "
                            f"differs from this one ({config_hash(cfg)}); use the saved "
                            f"{run_dir / 'config.yaml'}")
    return state, resume_weights, legacy


def _train_loader(cfg, train_split, mean, std, view_size):
    """The training loader: the recipe's views, shuffled as a function of (seed, epoch)."""
    try:
        return make_loader(train_split, views=cfg["data"]["views"],
                           batch_size=cfg["optim"]["batch_size"], mean=mean, std=std,
                           shuffle=True, seed=int(cfg["seed"]), drop_last=True,
                           workers=int(cfg["data"]["workers"]), image_size=view_size)
    except ValueError as exc:
        raise TrainingError(f"cannot build the training loader: {exc}") from None


def _install_run(cfg, run_dir, resume, resume_from, state):
    """Create a new run's directory, or copy a checkpoint from ``resume_from`` into it."""
    if not resume:
        create_run_dir(run_dir, cfg)
    elif resume_from is not None:
        try:
            mirror_checkpoint(resume_from, run_dir / CHECKPOINT)
            publish_view(run_dir / CHECKPOINT, run_dir, state)
            if not (run_dir / CONFIG).exists() and (run_dir / CHECKPOINT / CONFIG).exists():
                atomic_copy(run_dir / CHECKPOINT / CONFIG, run_dir / CONFIG)
        except (CheckpointError, OSError) as exc:
            raise TrainingError(f"cannot resume from {resume_from}: {exc}") from None


def _fit(model, loader, cfg, counts, ckpt, initial_epoch, end_epoch, frozen, verbose):
    """``model.fit`` from ``initial_epoch`` to ``end_epoch``: with a frozen backbone up to
    ``finetune.freeze_backbone_epochs``, then the whole model."""
    epochs = cfg["optim"]["epochs"]
    # shuffle=False: the loader shuffles itself, as a function of (seed, epoch);
    # keras' own shuffling of batch indices would make resumed runs differ.
    fit_kw = dict(callbacks=[loader.epoch_callback(), ckpt, RunProgbar(epochs)],
                  verbose=verbose, shuffle=False)
    if frozen and initial_epoch < min(freeze_epochs(cfg), end_epoch):
        last = min(freeze_epochs(cfg), end_epoch)
        print(f"{epochs_label(initial_epoch + 1, last)} of {epochs}: backbone frozen",
              flush=True)
        model.fit(loader, epochs=last, initial_epoch=initial_epoch, **fit_kw)
        initial_epoch = last
    if frozen and freeze_epochs(cfg) <= initial_epoch < end_epoch:
        unfreeze_backbone(model, cfg, counts, len(loader), initial_epoch)
        print(f"{epochs_label(initial_epoch + 1, epochs)} of {epochs}: backbone trained",
              flush=True)
    if initial_epoch < end_epoch:
        model.fit(loader, epochs=end_epoch, initial_epoch=initial_epoch, **fit_kw)


def finetune_model(init, data, run_dir, config=None, overrides=(), freeze_backbone_epochs=None,
                   verbose="auto"):
    """Fine-tune the pretrained model ``init`` (zoo name, Hub id or folder) on the prepared
    dataset ``data`` into ``run_dir`` (see :mod:`keras_lt.train.finetune`); returns the test
    metrics of the best checkpoint.

    Example:
    >>> keras_lt.finetune_model("la-resnet32-cifar10lt-if100", "data_cache/my-lt",
    ...                         "runs/my-ft", overrides=["optim.epochs=10"])   # doctest: +SKIP
    """
    cfg = finetune_config(init, data, config, overrides)
    if freeze_backbone_epochs is not None:
        cfg["finetune"]["freeze_backbone_epochs"] = int(freeze_backbone_epochs)
    return train(cfg, run_dir, verbose=verbose)


def freeze_epochs(cfg):
    """``finetune.freeze_backbone_epochs`` as an int (0: no frozen phase)."""
    return int(cfg["finetune"].get("freeze_backbone_epochs") or 0)


def _start_model(cfg, ds, counts, image_shape, steps, state, resume_weights, legacy, run_dir,
                 max_steps, copied):
    """Build the training model of a new run (``state`` None) or of a resumed one (its
    weights loaded and their optimizer step checked). ``copied``: the checkpoint is read
    from a folder outside ``run_dir`` (``resume_from``), which :func:`train` copies in
    afterwards. Returns ``(model, initial_epoch, frozen, optimizer_step)``."""
    if max_steps is not None and int(max_steps) > steps:
        raise TrainingError(f"max_steps={max_steps} is more than one epoch ({steps} steps); "
                            f"time whole epochs with --stop-after instead")
    resume = state is not None
    freeze = freeze_epochs(cfg)
    frozen = freeze > 0 and (int(state["epoch"]) if resume else 0) <= freeze
    model = build_training_model(cfg, ds.num_classes, counts, image_shape, steps,
                                 freeze_backbone=frozen)
    if not resume:
        if cfg["finetune"].get("init"):
            try:
                print(init_from_pretrained(model, cfg, ds.class_names, image_shape), flush=True)
            except (PretrainedError, UnknownModelError) as exc:
                raise TrainingError(f"cannot fine-tune: {exc}") from None
        return model, 0, frozen, 0
    model.load_weights(resume_weights)      # the optimizer's slots exist (compile_model)
    found = optimizer_step(model)
    try:
        if legacy:   # no record: the step an uninterrupted float32 run reaches
            check_optimizer_step(found, int(state["epoch"]) * steps, state, resume_weights)
            adopt_legacy(run_dir, run_dir / CHECKPOINT, state, found)
        else:
            check_optimizer_step(found, state["checkpoint"]["last"]["optimizer_step"],
                                 state, resume_weights)
            if not copied:
                # a kill after a commit can leave the plain files an epoch behind
                publish_view(run_dir / CHECKPOINT, run_dir, state)
    except CheckpointError as exc:
        raise TrainingError(f"cannot resume: {exc}") from None
    return model, int(state["epoch"]), frozen, found


def _timing_run(model, loader, run_dir, max_steps, batch_size, started, verbose):
    timer = StepTimer(started, batch_size)
    model.fit(loader, epochs=1, steps_per_epoch=max_steps, callbacks=[timer],
              verbose=2 if verbose == "auto" else verbose, shuffle=False)
    loader.close()
    summary = timer.summary()
    atomic_write_json(run_dir / "timing.json", summary)
    print("timing " + json.dumps(summary), flush=True)
    return summary
