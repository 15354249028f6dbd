"""Rerankers: reorder retrieved hits with a stronger (slower) model. Off by default.

No multilingual cross-encoder ships on PyPI, so none is on by default. A user with a
local or cached model sets `POVQA_RETRIEVAL__RERANKER=cross-encoder:<model name or path>`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from assistant.retrieval import Hit


class Reranker(ABC):
    name: str

    @abstractmethod
    def scores(self, query: str, texts: list[str]) -> list[float]:
        """Relevance of each text to the query (higher is better)."""

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        new = self.scores(query, [h.chunk.text for h in hits])
        for hit, score in zip(hits, new):
            hit.components["rerank"] = round(float(score), 4)
        return [h for _, h in sorted(zip(new, hits), key=lambda pair: -pair[0])]


class CrossEncoderReranker(Reranker):
    def __init__(self, model: str):
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model, device="cpu", model_kwargs={"use_safetensors": True})  # never a pickle
        self.name = f"cross-encoder:{model}"

    def scores(self, query: str, texts: list[str]) -> list[float]:
        return [float(s) for s in self._model.predict([(query, t) for t in texts], show_progress_bar=False)]


_REGISTRY: dict[str, Callable[[str], Reranker]] = {"cross-encoder": CrossEncoderReranker}


def register_reranker(prefix: str, factory: Callable[[str], Reranker]) -> None:
    _REGISTRY[prefix] = factory


def get_reranker(spec: str | None) -> Reranker | None:
    if not spec:
        return None
    prefix, _, arg = spec.partition(":")
    if prefix not in _REGISTRY:
        raise ValueError(f"unknown reranker {spec!r} (POVQA_RETRIEVAL__RERANKER): use one of {sorted(_REGISTRY)}")
    return _REGISTRY[prefix](arg)
