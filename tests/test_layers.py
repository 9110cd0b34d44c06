"""The layers of docs/design.md: plants <- synth <- validation, codegen <- symctl.

Every import of every module of the packages is read with `ast`: module-level and inside functions
(an import in a function is an import all the same), and the modules named as strings in a module
that calls `importlib.import_module` (the registries: `synth.__init__`'s lazy names, the CLI's
methods and commands). Two rules:

* no module imports a module of a higher layer, nor of the other package on its own layer
  (validation and codegen stand side by side: codegen needs neither JAX nor CasADi);
* the import graph of the packages' modules has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> layer; `templates` holds data only (Jinja templates) and sits with the lowest layer.
LAYERS = {"plants": 0, "templates": 0, "synth": 1, "validation": 2, "codegen": 2, "symctl": 3}


def modules(root: Path, packages) -> dict[str, Path]:
    """Dotted name -> file of every module of `packages` under `root`."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """The modules of `known` that module `name` imports, with the line of each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def absolute(module: str | None, level: int) -> str:
        if not level:
            return module or ""
        base = package.split(".")[: len(package.split(".")) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    found: list[tuple[str, int]] = []
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node.module, node.level)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((sub if sub in known else module, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) == "import_module":
                dynamic = True
    if dynamic:  # a registry: every string that names a module ("pkg.mod", "pkg.mod:function", "._mod")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.split(":")[0]
                if text.startswith("."):
                    text = package + text
                if text in known:
                    found.append((text, node.lineno))
    return [(m, line) for m, line in found if m in known and m != name]


def graph(root: Path, layers: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    known = modules(root, layers)
    return {name: imports(name, path, known) for name, path in known.items()}


def upward_imports(edges: dict[str, list[tuple[str, int]]], layers: dict[str, int]) -> list[str]:
    bad = []
    for name, targets in edges.items():
        mine = name.split(".")[0]
        for target, line in targets:
            theirs = target.split(".")[0]
            if layers[theirs] > layers[mine]:
                bad.append(f"{name} (line {line}) imports {target}: {mine} is below {theirs}")
            elif layers[theirs] == layers[mine] and theirs != mine:
                bad.append(f"{name} (line {line}) imports {target}: {mine} and {theirs} are side by side")
    return bad


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[tuple[list[str], list[str]]]:
    """Per group of modules that import each other (a strongly connected component): one cycle
    through its first module (a list of modules, first = last) and the whole group."""
    succ = {n: sorted({t for t, _ in ts}) for n, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    found = []
    for group in groups:  # a shortest path from the group's first module back to itself
        start, members = group[0], set(group)
        paths = {start: [start]}
        frontier = [start]
        while frontier and start not in [w for v in frontier for w in succ[v]]:
            nxt = []
            for v in frontier:
                for w in succ[v]:
                    if w in members and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in succ[v])
        found.append((paths[last] + [start], group))
    return found


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(LAYERS), f"packages without a layer in tests/test_layers.py: {sorted(packages - set(LAYERS))}"


def test_no_module_imports_a_higher_layer():
    bad = upward_imports(graph(ROOT, LAYERS), LAYERS)
    assert not bad, "imports against the layers (plants <- synth <- validation, codegen <- symctl):\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(graph(ROOT, LAYERS))
    assert not found, "import cycles:\n" + "\n".join(
        " -> ".join(cycle) + (f" (one of the cycles among {', '.join(group)})" if len(group) > len(cycle) - 1 else "")
        for cycle, group in found
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def toy(tmp_path):
    """Two layers, low <- high, with every kind of import the walker must see."""
    _write(
        tmp_path,
        {
            "low/__init__.py": "from ._a import f\n",
            "low/_a.py": "def f():\n    from . import _b\n    return _b\n",
            "low/_b.py": "import low._a\n",  # a cycle through a function-level import
            "low/_c.py": "def g():\n    from high import h\n    return h\n",  # upward, inside a function
            "high/__init__.py": "def h():\n    pass\n",
            "high/_reg.py": 'import importlib\nTABLE = {"x": "high._d:run"}\n\ndef get(k):\n    return importlib.import_module(TABLE[k])\n',
            "high/_d.py": "from ._reg import get\n",  # a cycle through a registry
        },
    )
    return tmp_path


def test_the_walker_sees_function_level_relative_and_registry_imports(toy):
    edges = graph(toy, {"low": 0, "high": 1})
    assert [t for t, _ in edges["low._a"]] == ["low._b"]
    assert [t for t, _ in edges["high._reg"]] == ["high._d"]
    assert upward_imports(edges, {"low": 0, "high": 1}) == ["low._c (line 2) imports high: low is below high"]
    assert sorted(cycles(edges)) == [
        (["high._d", "high._reg", "high._d"], ["high._d", "high._reg"]),
        (["low._a", "low._b", "low._a"], ["low._a", "low._b"]),
    ]
