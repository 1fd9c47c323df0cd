"""``keras-lt models``: the zoo as a table (name, dataset, method, status, test top-1).

    keras-lt models                       # every entry
    keras-lt models --published --method bccl
"""

import argparse
import sys

from keras_lt_cli.bootstrap import BackendError, select_backend


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--published", action="store_true", help="only entries with a checkpoint")
    p.add_argument("--method", help="bccl, rebsupcon or baseline")
    p.add_argument("--dataset", help="a benchmark id, e.g. cifar10lt")
    args = p.parse_args(argv)
    try:
        select_backend(None, announce=False)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from keras_lt.hub.registry import list_models

    print(repr(list_models(published=True if args.published else None, method=args.method,
                           dataset=args.dataset)))
    return 0
