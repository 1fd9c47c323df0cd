"""keras-lt: long-tailed image recognition for Keras 3 (torch, TensorFlow and JAX backends).

``import keras_lt`` imports Keras (choose the backend first: ``KERAS_BACKEND``) and
registers every keras-lt layer and model with Keras' serialization, so
``keras.saving.load_model`` reads zoo folders, ``hf://`` repositories and ``.keras`` files
of keras-lt models without further imports.

>>> import keras_lt
>>> model = keras_lt.from_pretrained("bccl-resnet32-cifar10lt-if100")   # doctest: +SKIP
>>> keras_lt.predict(model, "cat.jpg", top_k=3)                          # doctest: +SKIP
"""

from keras_lt.version import __version__
from keras_lt import backbones, layers, losses, models  # noqa: F401  (registers the classes)
from keras_lt.utils import schedules  # noqa: F401  (learning-rate schedules in saved optimizers)
from keras_lt.models import LTClassifier, LTImageClassifier  # noqa: F401

_LAZY = {
    "from_pretrained": ("keras_lt.hub.pretrained", "from_pretrained"),
    "save_pretrained": ("keras_lt.hub.pretrained", "save_pretrained"),
    "list_models": ("keras_lt.hub.registry", "list_models"),
    "predict": ("keras_lt.hub.predict", "predict"),
    "finetune_model": ("keras_lt.train.loop", "finetune_model"),
}


def __getattr__(name):
    # the zoo and training functions load their modules (data pipeline, Hub client) on first use
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'keras_lt' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})


__all__ = ["__version__", "from_pretrained", "save_pretrained", "list_models", "predict",
           "finetune_model", "LTClassifier", "LTImageClassifier"]
