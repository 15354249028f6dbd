"""The layers import one way: languages <- indexer <- assistant <- eval and bench (issue 16).

The import graph is read with `ast`: every import statement (also inside functions and under TYPE_CHECKING),
`from x import y`, relative imports resolved against the importing module, and `importlib.import_module` /
`__import__` called with a literal name. A comment or a string that mentions a module is not an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Top-level package -> the top-level packages of this repository it must not import.
FORBIDDEN = {
    "languages": {"indexer", "assistant", "eval", "bench", "tests"},
    "indexer": {"assistant", "eval", "bench", "tests"},
    "assistant": {"eval", "bench", "tests"},
}


def module_name(root: Path, path: Path) -> str:
    """'indexer/loaders/pdf.py' -> 'indexer.loaders.pdf'; a package's __init__.py is the package itself."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """The modules `source` (the code of `module`) imports, by absolute name."""
    found: set[str] = set()
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from ..x import y` in a.b.c is a.x
                base = package[: len(package) - (node.level - 1)]
                if node.level - 1 > len(package):
                    raise ImportError(f"{module}: relative import beyond the top-level package")
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def import_graph(root: Path, packages) -> dict[str, set[str]]:
    """module -> the modules it imports, for every .py file of `packages` under `root`."""
    graph = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            graph[module] = imported_modules(path.read_text("utf-8"), module, path.name == "__init__.py")
    return graph


def violations(graph: dict[str, set[str]], forbidden: dict[str, set[str]] = FORBIDDEN) -> list[str]:
    """'importer -> imported' for every import that goes the wrong way."""
    out = []
    for module, imported in sorted(graph.items()):
        banned = forbidden.get(module.split(".")[0], set())
        out.extend(f"{module} -> {target}" for target in sorted(imported) if target.split(".")[0] in banned)
    return out


def test_the_layers_import_one_way():
    graph = import_graph(ROOT, FORBIDDEN)
    assert "indexer.loaders.pdf" in graph and "assistant.retrieval" in graph and "languages.detect" in graph
    assert violations(graph) == []


def test_the_check_finds_every_kind_of_import_and_nothing_else(tmp_path):
    files = {
        "languages/__init__.py": "",
        "languages/scripts.py": "import re\nimport indexer.tokenize as t\n",
        "indexer/__init__.py": "",
        "indexer/c.py": "X = 1\n",
        "indexer/a.py": "def f():\n    from assistant.settings import Settings\n    return Settings\n",
        "indexer/sub/__init__.py": "from . import b\n",
        "indexer/sub/b.py": "from ..c import X\nfrom .. import c\n",
        "assistant/__init__.py": "",
        "assistant/ok.py": '"""Not `from eval import harness`."""\n# import eval\nimport indexer.c\nTEXT = "import eval"\n',
        "assistant/cli.py": "import json, eval.harness\n",
        "assistant/dyn.py": "import importlib\nM = importlib.import_module('eval.cli')\n",
        "assistant/types.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench import common\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, "utf-8")
    graph = import_graph(tmp_path, FORBIDDEN)
    assert {"indexer.c", "indexer.c.X"} <= graph["indexer.sub.b"]  # relative imports resolved
    assert "indexer.sub.b" in graph["indexer.sub"]
    assert violations(graph) == [
        "assistant.cli -> eval.harness",
        "assistant.dyn -> eval.cli",
        "assistant.types -> bench",
        "assistant.types -> bench.common",
        "indexer.a -> assistant.settings",
        "indexer.a -> assistant.settings.Settings",
        "languages.scripts -> indexer.tokenize",
    ]
