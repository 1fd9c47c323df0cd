"""Test helpers shared by the suite: backend-specific autodiff (tests only).

Library code never needs a gradient outside ``model.fit``; parity tests do, to
compare against the reference implementations' stored gradients.
"""

import keras
import numpy as np


def value_and_grad(fn, *args):
    """Evaluate ``fn(*args)`` (a scalar built from ``keras.ops``) and its
    gradient with respect to every argument; returns ``(value, [grads])`` as numpy."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        ts = [torch.tensor(np.asarray(a), requires_grad=True) for a in args]
        out = fn(*ts)
        grads = torch.autograd.grad(out, ts, allow_unused=True)
        return out.detach().numpy(), [None if g is None else g.numpy() for g in grads]
    if backend == "tensorflow":
        import tensorflow as tf

        ts = [tf.Variable(np.asarray(a)) for a in args]
        with tf.GradientTape() as tape:
            out = fn(*ts)
        grads = tape.gradient(out, ts)
        return out.numpy(), [None if g is None else g.numpy() for g in grads]
    if backend == "jax":
        import jax

        out, grads = jax.value_and_grad(lambda *a: fn(*a), argnums=tuple(range(len(args))))(
            *[np.asarray(a) for a in args])
        return np.asarray(out), [np.asarray(g) for g in grads]
    raise NotImplementedError(backend)


def finite_difference_grad(fn, x, h=1e-6):
    """Central differences of the scalar ``fn`` (built from ``keras.ops``) at the
    float64 array ``x``; each probe is passed as a float64 backend tensor so no op
    falls back to float32."""
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        f_up = fn(keras.ops.convert_to_tensor(up, "float64"))
        f_down = fn(keras.ops.convert_to_tensor(down, "float64"))
        grad[idx] = (float(keras.ops.convert_to_numpy(f_up))
                     - float(keras.ops.convert_to_numpy(f_down))) / (2 * h)
    return grad


def rel_err(a, b):
    """max |a - b| / max |b| (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a)))


OTHER_BACKEND = {"torch": "tensorflow", "tensorflow": "jax", "jax": "torch"}


def run_on_backend(backend, script, *args, timeout=300):
    """Run ``python script args...`` in a fresh interpreter on another Keras
    backend (a process has one backend); returns its stdout. Fails the test with
    the child's stderr when it exits non-zero."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{script} on {backend} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def two_view_data(num_classes, batch, steps, size=16, seed=0):
    """Tiny two-view training data: class-shifted noise and a perturbed copy,
    labels cycling over the classes; returns ``((x1, x2), y)``."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(num_classes), batch * steps // num_classes).astype("int32")
    x1 = rng.normal(size=(len(y), size, size, 3)).astype("float32") + y[:, None, None, None]
    x2 = x1 + 0.1 * rng.normal(size=x1.shape).astype("float32")
    return (x1, x2), y
