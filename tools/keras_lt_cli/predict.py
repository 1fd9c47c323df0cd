#!/usr/bin/env python
"""Top-k labels of image files with a pretrained model (keras_lt.predict).

Examples::

    python tools/predict.py la-resnet32-cifar10lt-if100 cat.png ship.jpg
    python tools/predict.py model_cards/la-resnet32-cifar10lt-if100 cat.png --top-k 3 --json

Prints one line per image: the file, then ``label (probability)`` best first.
An image that cannot be used (missing, undecodable or truncated, no pixels), a
``--top-k`` below 1 or an unknown model ends in one ``error:`` line on stderr
and exit code 2; a ``--top-k`` above the number of classes is clamped to it.
"""

import argparse
import json
import sys
import warnings

from keras_lt_cli.bootstrap import BACKENDS, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("model", help="pretrained model: zoo name, Hub repository id or folder")
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--top-k", type=int, default=5, help="labels per image (default 5)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON list")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else torch if installed)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.top_k <= 0:
        print(f"error: --top-k must be a positive integer, got {args.top_k}", file=sys.stderr)
        return 2
    select_backend(args.backend)
    import keras_lt
    from keras_lt.hub.pretrained import PretrainedError, UnknownModelError

    try:
        model = keras_lt.from_pretrained(args.model)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = keras_lt.predict(model, args.images, top_k=args.top_k)
    except (FileNotFoundError, ValueError, PretrainedError, UnknownModelError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {' '.join(str(text).split())}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        print(r["source"] + ": " + ", ".join(f"{label} ({p:.3f})"
                                             for label, p in zip(r["labels"], r["probs"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
