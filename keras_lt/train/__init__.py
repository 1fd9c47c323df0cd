"""Training: the loop behind ``tools/train.py`` (:mod:`keras_lt.train.loop`), the run checkpoint
(:mod:`keras_lt.train.checkpoint`: atomic commit, verification, mirroring) and fine-tuning from
a zoo folder (:mod:`keras_lt.train.finetune`).

>>> from keras_lt.train.loop import train                                  # doctest: +SKIP
>>> train(load_config("zoo_configs/la-resnet32-cifar10lt-if100.yaml"), "runs/la")  # doctest: +SKIP
"""
