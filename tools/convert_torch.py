#!/usr/bin/env python
"""``keras-lt convert`` from a clone (the command lives in keras_lt_cli/convert.py; --help says more)."""

import sys

from keras_lt_cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
