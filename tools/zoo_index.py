#!/usr/bin/env python
"""Regenerate keras_lt/zoo_index.json, the zoo shipped inside the package (every recipe of
zoo_configs/ and a summary of each card in model_cards/), or --check that it is current.

    python tools/zoo_index.py            # after adding a recipe or exporting a zoo card
    python tools/zoo_index.py --check    # exit 1 when the index is stale (the tests run it)
"""

import argparse
import sys

from keras_lt_cli.bootstrap import ROOT, select_backend


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check; write nothing")
    args = p.parse_args(argv)
    select_backend(None, announce=False)
    from keras_lt.config import ZOO_INDEX
    from keras_lt.hub.registry import build_index, index_text
    from keras_lt.utils.files import atomic_write_text

    text = index_text(build_index(ROOT / "zoo_configs", ROOT / "model_cards"))
    current = ZOO_INDEX.read_text() if ZOO_INDEX.is_file() else ""
    if args.check:
        if text != current:
            print(f"{ZOO_INDEX} is stale: run python tools/zoo_index.py", file=sys.stderr)
            return 1
        print(f"{ZOO_INDEX} is current")
        return 0
    if text == current:
        print(f"{ZOO_INDEX}: unchanged")
        return 0
    atomic_write_text(ZOO_INDEX, text, 0o644)
    print(f"wrote {ZOO_INDEX}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
