"""Shared fixtures: a tiny deterministic embedder registered like the real ones, isolated settings."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.embedders import Embedder, register_embedder
from indexer.tokenize import tokenize

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = ROOT / "docs_corpus"

# Nothing in the test suite may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class HashEmbedder(Embedder):
    """Bag of hashed BM25 tokens in 256 dimensions: same words -> close vectors. Deterministic, instant."""

    name = "fake:hash-256"
    dim = 256

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size
        self.calls = 0
        self.texts_embedded = 0

    def embed_batch(self, texts: Sequence[str], mode: str) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for token in tokenize(text):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


register_embedder("fake", lambda arg, bs: HashEmbedder(batch_size=bs))


#: Small notes shared by the answering and API tests.
IPRCC_NOTE = """# Cooperation with Africa

IPRCC has organised training courses for officials from 40 African countries since 2005.
The courses cover rural development, microfinance and agricultural extension.

# Tanzania

In 2010 the Tanzanian government asked IPRCC to send experts to run village demonstration projects.
IPRCC is studying a China-Tanzania microfinance centre with the Tanzanian NGO PRIDE.
"""
WATER_NOTE = """# Water supply

Deep wells brought clean drinking water to drought-stricken districts in the north.
Village committees maintain the pumps and collect a small monthly fee from each household.
Water-borne disease cases fell by half within two years of the new wells opening.
"""
SAMPLE_NOTES = {"iprcc.md": IPRCC_NOTE, "water.md": WATER_NOTE}


def index_notes(folder: Path, notes: dict[str, str], settings=None):
    """Write `notes` (file name -> text) into `folder` and index them with the fake embedder, with `settings`
    (default: from the environment); returns the Settings."""
    from assistant.settings import Settings
    from indexer.build import build_index

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / name).write_text(text, "utf-8")
    settings = settings or Settings()
    build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    return settings


def _calibration(bias: float):
    from assistant.pipeline import Calibration

    return Calibration(bias=bias, w_cosine=0.0, w_missing=0.0)


#: Refusal models that always answer / always refuse, for tests about what comes after that decision.
ALWAYS_ANSWER = _calibration(50.0)
NEVER_ANSWER = _calibration(-50.0)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Every test gets its own index folder and never sees the developer's POVQA_* variables."""
    for key in list(os.environ):
        if key.startswith("POVQA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("POVQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("POVQA_EMBEDDER", "fake")
    monkeypatch.setenv("POVQA_RETRIEVAL__SECOND_EMBEDDER", "")
    from assistant.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of docs_corpus/."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target
