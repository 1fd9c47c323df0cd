#!/usr/bin/env python
"""``keras-lt publish`` from a clone (the command lives in keras_lt_cli/publish.py; --help says more)."""

import sys

from keras_lt_cli.publish import main

if __name__ == "__main__":
    sys.exit(main())
