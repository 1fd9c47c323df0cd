"""Pure-JAX ResNet-32 (+ projection head + cosine classifier) training step, jitted: the
XLA reference for ``bench_train_step.py``.

The same network, loss and optimiser as ``torch_reference.py`` (CIFAR ResNet-32, 3 stages
x 5 basic blocks at 16/32/64 channels, option-A shortcuts; head 64-512-128 with BatchNorm;
cosine classifier with scale 1/0.03; logit-adjusted cross-entropy on every view plus a cosine
alignment term; SGD with momentum 0.9 and L2 weight decay 2e-4), written directly on
``jax.lax`` in channels-last layout and compiled as one ``jax.jit`` function. No Keras: if
keras-lt on JAX runs about as fast as this, the JAX backend's speed on a CPU is XLA's, not
keras-lt's.
"""

import jax
import jax.numpy as jnp
import numpy as np

EPS = 1e-5
STAGES = ((16, 1), (32, 2), (64, 2))


def _conv_init(rng, cin, cout):
    std = np.sqrt(2.0 / (9 * cin))                          # Kaiming normal, fan_in
    return (rng.normal(size=(3, 3, cin, cout)) * std).astype("float32")


def init_params(seed=0, num_classes=10, feat_dim=128):
    """Parameters (a dict of arrays): convolutions in HWIO, BatchNorm scale/shift."""
    rng = np.random.default_rng(seed)
    p = {"conv1": _conv_init(rng, 3, 16), "bn1": (np.ones(16, "float32"), np.zeros(16, "float32"))}
    cin = 16
    for s, (c, _) in enumerate(STAGES):
        for b in range(5):
            p[f"s{s}b{b}c1"] = _conv_init(rng, cin, c)
            p[f"s{s}b{b}c2"] = _conv_init(rng, c, c)
            p[f"s{s}b{b}n1"] = (np.ones(c, "float32"), np.zeros(c, "float32"))
            p[f"s{s}b{b}n2"] = (np.ones(c, "float32"), np.zeros(c, "float32"))
            cin = c
    p["h1"] = ((rng.normal(size=(cin, 512)) / np.sqrt(cin)).astype("float32"), np.zeros(512, "float32"))
    p["hn"] = (np.ones(512, "float32"), np.zeros(512, "float32"))
    p["h2"] = ((rng.normal(size=(512, feat_dim)) / np.sqrt(512)).astype("float32"),
               np.zeros(feat_dim, "float32"))
    p["fc"] = rng.uniform(-1, 1, size=(cin, num_classes)).astype("float32")
    return jax.tree_util.tree_map(jnp.asarray, p)


def conv(x, w, stride):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def batch_norm(x, scale_shift):
    """Training-mode BatchNorm over every axis but the last (batch statistics)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    var = jnp.var(x, axes)
    scale, shift = scale_shift
    return (x - mean) * jax.lax.rsqrt(var + EPS) * scale + shift


def normalize(x, axis=-1):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def forward(p, x, scale=1 / 0.03):
    f = jax.nn.relu(batch_norm(conv(x, p["conv1"], 1), p["bn1"]))
    cin = 16
    for s, (c, stride0) in enumerate(STAGES):
        for b in range(5):
            stride = stride0 if b == 0 else 1
            out = jax.nn.relu(batch_norm(conv(f, p[f"s{s}b{b}c1"], stride), p[f"s{s}b{b}n1"]))
            out = batch_norm(conv(out, p[f"s{s}b{b}c2"], 1), p[f"s{s}b{b}n2"])
            if stride != 1 or cin != c:          # option A: subsample, zero-pad channels
                pad = (c - cin) // 2
                short = jnp.pad(f[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (pad, pad)))
            else:
                short = f
            f = jax.nn.relu(out + short)
            cin = c
    f = jnp.mean(f, axis=(1, 2))
    w1, b1 = p["h1"]
    w2, b2 = p["h2"]
    z = normalize(jax.nn.relu(batch_norm(f @ w1 + b1, p["hn"])) @ w2 + b2)
    logits = scale * normalize(f) @ normalize(p["fc"], axis=0)
    return z, logits


def multiview_loss(p, views, labels, log_prior, weight_decay=2e-4):
    v = len(views)
    z, logits = forward(p, jnp.concatenate(views, 0))
    y = jnp.tile(labels, v)
    logp = jax.nn.log_softmax(logits + log_prior)
    ce = -jnp.mean(jnp.take_along_axis(logp, y[:, None], 1))
    zs = jnp.split(z, v)
    align = sum(jnp.mean(1 - jnp.sum(zs[0] * zs[i], 1)) for i in range(1, v)) / max(v - 1, 1)
    l2 = sum(jnp.sum(w * w) for w in jax.tree_util.tree_leaves(p))
    return ce + align + 0.5 * weight_decay * l2


def make_step(lr=0.1, momentum=0.9):
    """``step(params, velocity, views, labels, log_prior) -> (params, velocity, loss)``."""

    @jax.jit
    def step(params, velocity, views, labels, log_prior):
        loss, grads = jax.value_and_grad(multiview_loss)(params, views, labels, log_prior)
        velocity = jax.tree_util.tree_map(lambda m, g: momentum * m + g, velocity, grads)
        params = jax.tree_util.tree_map(lambda w, m: w - lr * m, params, velocity)
        return params, velocity, loss

    return step
