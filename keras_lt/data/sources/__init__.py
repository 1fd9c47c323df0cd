"""Dataset sources of :func:`keras_lt.data.prepare.prepare_dataset`, one module per kind
(:mod:`~keras_lt.data.sources.cifar`, :mod:`~keras_lt.data.sources.imagefolder`,
:mod:`~keras_lt.data.sources.splitfile`, :mod:`~keras_lt.data.sources.hf`,
:mod:`~keras_lt.data.sources.digits`); each module's ``*_source`` function reads its
input into a :class:`~keras_lt.data.sources.base.Source`, whose images are fetched one
at a time by the writer."""

#: the ``source=`` names :func:`keras_lt.data.prepare.prepare_dataset` accepts
SOURCES = ("cifar10", "cifar100", "imagefolder", "splitfile", "hf", "digits")
