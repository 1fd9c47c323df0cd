#!/usr/bin/env python
"""``keras-lt train`` from a clone (the command lives in keras_lt_cli/train.py; --help says more)."""

import sys

from keras_lt_cli.train import main

if __name__ == "__main__":
    sys.exit(main())
