#!/usr/bin/env python
"""Upload a pretrained folder (from tools/export.py) to the Hugging Face Hub.

Examples::

    python tools/publish.py model_cards/la-resnet32-cifar10lt-if100 --dry-run
    python tools/publish.py model_cards/la-resnet32-cifar10lt-if100 --repo-id my-org/la-r32-c10lt

The folder is checked first (config, weights and card present, card metadata parses,
no pickle-capable files); ``--dry-run`` prints the files and sizes that would be
uploaded and the target repository, and sends nothing. ``--repo-id`` defaults to the
zoo's id for the folder's model (``$KERAS_LT_HUB_ORG/<name>``). Uploading needs a
token (``hf auth login`` or ``HF_TOKEN``); ``HF_ENDPOINT`` is honoured.
"""

import argparse
import sys

from keras_lt_cli.bootstrap import BackendError, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("folder", help="pretrained folder (config.json, model.safetensors, README.md)")
    p.add_argument("--repo-id", help="Hub repository id (default: the zoo's id of the model)")
    p.add_argument("--revision", help="branch to upload to (default main)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", action="store_true", help="check and list; upload nothing")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        # reading a folder loads Keras: the tools' backend rule, not Keras' own default
        select_backend(None, announce=False)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from keras_lt.hub.pretrained import PretrainedError, read_pretrained_config
    from keras_lt.hub.publish import publish
    from keras_lt.hub.registry import find_entry, hub_org

    try:
        config, _ = read_pretrained_config(args.folder)
        entry = find_entry(config["name"])
        repo_id = args.repo_id or (entry.repo_id if entry else f"{hub_org()}/{config['name']}")
        files = publish(args.folder, repo_id, revision=args.revision, private=args.private,
                        dry_run=args.dry_run)
    except PretrainedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:       # network / auth errors of huggingface_hub
        print(f"error: upload to {args.repo_id or 'the Hub'} failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    verb = "would upload" if args.dry_run else "uploaded"
    total = sum(size for _, size in files)
    print(f"{verb} {len(files)} files ({total / 1e6:.2f} MB) to {repo_id}"
          + (f"@{args.revision}" if args.revision else ""))
    for name, size in files:
        print(f"  {name:40s} {size:>12,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
