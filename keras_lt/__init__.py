"""keras-lt: long-tailed image recognition for Keras 3 (torch, TensorFlow and JAX backends).

>>> import keras_lt
>>> model = keras_lt.from_pretrained("bccl-resnet32-cifar10lt-if100")   # doctest: +SKIP
>>> keras_lt.predict(model, "cat.jpg", top_k=3)                          # doctest: +SKIP
"""

__version__ = "0.1.0"

_LAZY = {
    "from_pretrained": ("keras_lt.hub.pretrained", "from_pretrained"),
    "save_pretrained": ("keras_lt.hub.pretrained", "save_pretrained"),
    "list_models": ("keras_lt.hub.registry", "list_models"),
    "predict": ("keras_lt.hub.predict", "predict"),
    "finetune_model": ("keras_lt.train.loop", "finetune_model"),
}


def __getattr__(name):
    # imported on first use, so `import keras_lt` does not import keras (tools choose
    # the backend first)
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'keras_lt' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})


__all__ = ["from_pretrained", "save_pretrained", "list_models", "predict", "finetune_model"]
