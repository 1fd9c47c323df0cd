"""The ``keras-lt`` command: ``keras-lt <command> [options]``.

Each command is a module of this package with a ``main(argv)``; ``tools/<name>.py`` in a
clone runs the same code. The package sits outside ``keras_lt`` because ``import keras_lt``
imports Keras: a command chooses the backend (``--backend``) before that import.
"""

import difflib
import importlib
import sys

#: command -> what it does (the module ``keras_lt_cli.<command>`` runs it)
COMMANDS = {
    "prepare": "prepare a dataset (optionally long-tailed) in keras-lt's format",
    "train": "train a recipe, resume a run, or fine-tune a zoo model",
    "evaluate": "evaluate a run or a pretrained model (many/medium/few-shot report)",
    "predict": "top-k labels of image files with a zoo model",
    "export": "turn a finished run into a pretrained folder with its model card",
    "publish": "check a pretrained folder and upload it to the Hugging Face Hub",
    "convert": "convert the authors' PyTorch release into a pretrained folder",
    "models": "list the zoo (name, dataset, method, status, test top-1)",
}


def _usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: keras-lt <command> [options]   (keras-lt <command> --help for each)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()]
    return "\n".join(lines)


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras-lt")
    except PackageNotFoundError:                 # a clone without installing
        return "unknown (not installed)"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"keras-lt {_version()}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        print(f"keras-lt: unknown command {command!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    sys.argv[0] = f"keras-lt {command}"          # argparse's prog in usage and errors
    return importlib.import_module(f"keras_lt_cli.{command}").main(rest)
