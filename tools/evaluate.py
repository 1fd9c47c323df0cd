#!/usr/bin/env python
"""``keras-lt evaluate`` from a clone (the command lives in keras_lt_cli/evaluate.py; --help says more)."""

import sys

from keras_lt_cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
