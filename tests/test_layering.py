"""The package's import rules (docs/architecture.md), checked on the source of every module.

Imports are read with ``ast``, so the rules hold for imports inside functions too (a deferred
import is still a dependency). "At import" rules look only at statements that run when the module
is imported (module level, including ``if``/``try`` blocks and class bodies, not function bodies).
The torch-free modules are also imported in a fresh interpreter, which catches indirect imports.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cmpcv"
APPS = ("cmpcv.train", "cmpcv.evaluate", "cmpcv.predict")

# (package, forbidden anywhere, forbidden at import)
RULES = (
    ("cmpcv.models", ("cmpcv.engine", *APPS), ()),
    ("cmpcv.metrics", ("cmpcv.models", "cmpcv.engine", *APPS), ("torch",)),
    ("cmpcv.engine", APPS, ()),
    ("cmpcv.data", ("cmpcv.models", "cmpcv.engine", *APPS), ()),
    ("cmpcv.results", ("cmpcv.models", "cmpcv.engine", *APPS), ("torch",)),
)

# Modules that must import without torch: the text pipeline, RLE, palette PNGs, the frame-folder
# video source, the expression index and the whole-video frame sources, every dataset's on-disk
# format, the benchmark output writers, the metrics, the results tables and the synthetic set's
# generator.
TORCH_FREE = (
    "cmpcv.data.text",
    "cmpcv.data.rle",
    "cmpcv.data.palette",
    "cmpcv.data.expressions",
    "cmpcv.data.frame_folder",
    "cmpcv.data.frame_sources",
    "cmpcv.data.submission",
    "cmpcv.data.davis17.expressions",
    *sorted(f"cmpcv.data.{p.parent.name}.format" for p in (PACKAGE / "data").glob("*/format.py")),
    "cmpcv.metrics",
    "cmpcv.results.report",
    "cmpcv.data.shapes.cache",
)


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of the module at ``path`` and whether it is a package (``__init__.py``)."""
    parts = path.relative_to(REPO).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _runs_at_import(tree: ast.Module):
    """The nodes of ``tree`` that execute on import (function bodies are skipped)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(source: str, module: str, *, is_package: bool = False,
                   at_import: bool = False) -> set[str]:
    """Every module name ``source`` (the text of ``module``) imports; ``from a import b`` gives
    ``a`` and ``a.b`` (``b`` may be a submodule). Relative imports are resolved."""
    tree = ast.parse(source)
    nodes = _runs_at_import(tree) if at_import else ast.walk(tree)
    package = module if is_package else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _matches(name: str, prefixes) -> list[str]:
    return [p for p in prefixes if name == p or name.startswith(p + ".")]


def violations(package: str, anywhere, at_import) -> list[str]:
    found = []
    folder = REPO.joinpath(*package.split("."))
    for path in sorted(folder.rglob("*.py")):
        (module, is_package), source = module_name(path), path.read_text(encoding="utf-8")
        for name in sorted(imported_names(source, module, is_package=is_package)):
            found += [f"{module} imports {name} (rule: {package} imports no {p})"
                      for p in _matches(name, anywhere)]
        for name in sorted(imported_names(source, module, is_package=is_package, at_import=True)):
            found += [f"{module} imports {name} at import (rule: {package} imports no {p} at import)"
                      for p in _matches(name, at_import)]
    return found


@pytest.mark.parametrize("package, anywhere, at_import", RULES, ids=[r[0] for r in RULES])
def test_import_rules_hold(package, anywhere, at_import):
    assert REPO.joinpath(*package.split(".")).is_dir()
    assert violations(package, anywhere, at_import) == []


def test_the_checker_sees_deferred_relative_and_from_imports():
    source = (
        "import numpy\n"
        "from . import helpers\n"
        "from ..engine import trainer\n"
        "def f():\n"
        "    import torch\n"
        "    from cmpcv import evaluate\n"
    )
    names = imported_names(source, "cmpcv.metrics.x")
    assert {"numpy", "cmpcv.metrics.helpers", "cmpcv.engine.trainer", "torch", "cmpcv.evaluate"} <= names
    at_import = imported_names(source, "cmpcv.metrics.x", at_import=True)
    assert "torch" not in at_import and "cmpcv.evaluate" not in at_import and "cmpcv.engine" in at_import
    assert _matches("cmpcv.evaluate", APPS) == ["cmpcv.evaluate"]
    assert _matches("cmpcv.evaluation", APPS) == []  # a prefix of a name is not a match
    assert imported_names("from .reader import A\n", "cmpcv.data.a2d", is_package=True) == {
        "cmpcv.data.a2d.reader", "cmpcv.data.a2d.reader.A"}
    assert module_name(PACKAGE / "data" / "a2d" / "__init__.py") == ("cmpcv.data.a2d", True)


def test_torch_free_modules_import_without_torch():
    assert {"cmpcv.data.a2d.format", "cmpcv.data.jhmdb.format"} <= set(TORCH_FREE)
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "    if 'torch' in sys.modules:\n"
        "        sys.exit(f'importing {name} imported torch')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(TORCH_FREE)], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
