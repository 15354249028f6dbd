"""Collections: named groups of documents (the first folder below the corpus folder, `indexer.types.collection_of`),
and the chunk rows a question restricted to some of them may retrieve from. Works on any store's reader: it reads
only `reader.documents` and `reader.doc_rows`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.types import DEFAULT_COLLECTION

__all__ = ["DEFAULT_COLLECTION", "UnknownCollection", "collection_counts", "collection_rows", "unknown_collections"]


class UnknownCollection(ValueError):
    """A collection named in a question that the index does not have; the message lists the ones it has."""


def collection_counts(reader) -> dict[str, tuple[int, int]]:
    """name -> (documents, chunks) of the index `reader` reads, by name."""
    counts: dict[str, tuple[int, int]] = {}
    for doc_id, document in reader.documents.items():
        r0, r1 = reader.doc_rows[doc_id][:2]
        documents, chunks = counts.get(document.collection, (0, 0))
        counts[document.collection] = (documents + 1, chunks + r1 - r0)
    return dict(sorted(counts.items()))


def unknown_collections(reader, names: Sequence[str]) -> list[str]:
    """The names of `names` that no document of the index belongs to."""
    known = {d.collection for d in reader.documents.values()}
    return [name for name in dict.fromkeys(names) if name not in known]


def check_collections(reader, names: Sequence[str]) -> None:
    """UnknownCollection naming every unknown name and the collections there are."""
    unknown = unknown_collections(reader, names)
    if unknown:
        have = ", ".join(repr(n) for n in collection_counts(reader)) or "none (the index is empty)"
        raise UnknownCollection(f"unknown collection{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(repr(n) for n in unknown)}: this index has {have}")


def collection_rows(reader, names: Sequence[str]) -> np.ndarray:
    """The chunk rows of the documents in the collections `names`, ascending (empty when none has a document)."""
    wanted = set(names)
    spans = sorted(reader.doc_rows[doc_id][:2] for doc_id, d in reader.documents.items() if d.collection in wanted)
    if not spans:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(r0, r1, dtype=np.int64) for r0, r1 in spans])
