"""The package's import structure: its folders form a stack in which each imports only those
below it, with no import circles and no keras-lt imports hidden in functions. Read from the
source (no imports run)."""

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "keras_lt"
#: the stack, lowest first: a module imports only modules of its own tier and the tiers below
#: (``keras_lt`` itself, the public face, is the top: it registers the models and names the
#: zoo and training functions; ``keras_lt.version`` is the version alone)
TIERS = (
    ("keras_lt.version", "keras_lt.config", "keras_lt.options", "keras_lt.backbones", "keras_lt.layers", "keras_lt.losses",
     "keras_lt.utils"),                   # pure keras.ops building blocks and helpers
    ("keras_lt.models",),                 # the classifier, BCCL, Reb-SupCon, the builder
    ("keras_lt.data",),                   # prepared datasets, preparation, views, loaders
    ("keras_lt.eval",),                   # metrics, reports, run evaluation
    ("keras_lt.hub",),                    # the zoo: registry, pretrained folders, cards, export
    ("keras_lt.train",),                  # the loop (val selection, final report), fine-tuning
    ("keras_lt",),                        # the package: public names, class registration
)


def tier(module):
    """Index in :data:`TIERS` of the folder (or top-level module) ``module`` belongs to."""
    top = ".".join(module.split(".")[:2])
    for i, names in enumerate(TIERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no tier of tests/test_layout.py TIERS")


def modules():
    """``{dotted name: path}`` of every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name, path, known):
    """``(module-level, function-local)`` sets of keras-lt modules that ``name`` imports."""
    def target(node):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
        return subs + ([base] if len(subs) < len(node.names) else [])

    def owner(dotted):
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted

    top, local = set(), set()

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for dotted in target(child):
                    mod = owner(dotted) if dotted.startswith("keras_lt") else None
                    if mod and mod != name:
                        (local if inner else top).add(mod)
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return top, local


def import_graph():
    known = modules()
    top, local = {}, {}
    for name, path in known.items():
        top[name], local[name] = imports(name, path, known)
    return top, local


def circles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_even_through_function_local_imports():
    top, local = import_graph()
    both = {name: top[name] | local[name] for name in top}
    assert circles(both) == []


def test_no_keras_lt_import_is_hidden_in_a_function():
    """Function-local imports are for optional third-party packages only (scikit-learn,
    SciPy, matplotlib, datasets, ...), never to dodge a circle inside the package."""
    _, local = import_graph()
    assert {name: sorted(mods) for name, mods in local.items() if mods} == {}


def test_every_folder_imports_only_its_own_tier_and_those_below():
    top, local = import_graph()
    upward = sorted(f"{name} -> {mod}" for name in top for mod in top[name] | local[name]
                    if tier(mod) > tier(name))
    assert upward == []


def test_the_circle_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
