"""povqa's retriever as a LangChain `BaseRetriever`, for users who compose LangChain pipelines."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieval import Retriever


class PovqaRetriever(BaseRetriever):
    """Hybrid cross-lingual retrieval; each LangChain Document carries povqa's citation metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 6

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[LCDocument]:
        hits = self.retriever.search(query, kwargs.get("k", self.k))
        return [
            LCDocument(
                page_content=hit.chunk.text,
                metadata={**hit.result().model_dump(exclude={"text"}), "components": hit.components},
            )
            for hit in hits
        ]
