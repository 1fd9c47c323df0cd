"""Learning-rate schedules."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lt")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``base_lr / warmup_steps`` to ``base_lr`` over
    ``warmup_steps`` steps, then cosine decay to ``min_lr`` at ``total_steps``
    (Goyal et al. 2017 warm-up; Loshchilov & Hutter 2017 cosine, as in the
    BCL/BCCL recipes). Computed per step from the optimizer's iteration count,
    so resuming from a checkpoint continues the schedule exactly.
    """

    def __init__(self, base_lr, total_steps, warmup_steps=0, min_lr=0.0):
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_lr = float(min_lr)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 1))
        warm_lr = self.base_lr * (step + 1.0) / warm
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        cos_lr = self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps <= 0:
            return cos_lr
        return ops.where(step < self.warmup_steps, warm_lr, cos_lr)

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "min_lr": self.min_lr}


@keras.saving.register_keras_serializable(package="keras_lt")
class EpochWarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of BCCL's released code (``utils.adjust_lr``): constant within an
    epoch, ``base_lr * (e + 1) / W`` for epochs e < W, then
    ``base_lr * 0.5 * (1 + cos(pi * (e - W + 1) / (E - W + 1)))`` (so the last epoch's rate
    is small but not 0). e is the 0-based epoch of the optimizer step.

    Example:
    >>> s = EpochWarmupCosine(0.15, epochs=30, steps_per_epoch=96, warmup_epochs=10)
    >>> round(float(s(0)), 4), round(float(s(96 * 9)), 4), round(float(s(96 * 10)), 4)
    (0.015, 0.15, 0.1492)
    """

    def __init__(self, base_lr, epochs, steps_per_epoch, warmup_epochs=0):
        self.base_lr = float(base_lr)
        self.epochs = int(epochs)
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.warmup_epochs = int(warmup_epochs)

    def __call__(self, step):
        epoch = ops.cast(ops.floor_divide(ops.cast(step, "int32"), self.steps_per_epoch), "float32")
        warm = float(max(self.warmup_epochs, 1))
        warm_lr = self.base_lr * (epoch + 1.0) / warm
        span = float(max(self.epochs - self.warmup_epochs + 1, 1))
        cos_lr = 0.5 * self.base_lr * (
            1.0 + ops.cos(math.pi * (epoch - self.warmup_epochs + 1.0) / span))
        if self.warmup_epochs <= 0:
            return cos_lr
        return ops.where(epoch < self.warmup_epochs, warm_lr, cos_lr)

    def get_config(self):
        return {"base_lr": self.base_lr, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch, "warmup_epochs": self.warmup_epochs}
