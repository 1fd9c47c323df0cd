#!/usr/bin/env python
"""``keras-lt export`` from a clone (the command lives in keras_lt_cli/export.py; --help says more)."""

import sys

from keras_lt_cli.export import main

if __name__ == "__main__":
    sys.exit(main())
