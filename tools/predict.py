#!/usr/bin/env python
"""``keras-lt predict`` from a clone (the command lives in keras_lt_cli/predict.py; --help says more)."""

import sys

from keras_lt_cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
