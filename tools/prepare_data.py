#!/usr/bin/env python
"""``keras-lt prepare`` from a clone (the command lives in keras_lt_cli/prepare.py; --help says more)."""

import sys

from keras_lt_cli.prepare import main

if __name__ == "__main__":
    sys.exit(main())
