"""Centring statistics, written next to each embedder's vectors when an index is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from indexer.format import PRIMARY, PRIMARY_SENT, SECOND, SECOND_SENT, cnorm_array, mean_array

if TYPE_CHECKING:  # pragma: no cover
    from indexer.store import IndexWriter


def centring_stats(chunk_vectors: np.ndarray, sentence_vectors: np.ndarray,
                   block: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corpus mean of the chunk vectors, and each row's norm once that mean is subtracted.

    With these, a centred cosine is (x @ q' - q' @ mean) / cnorm[x], so no centred copy of the
    vectors is stored (see assistant/scoring.py for why centring helps cross-lingual questions).
    """
    mean = chunk_vectors.mean(axis=0).astype(np.float32) if len(chunk_vectors) else np.zeros(chunk_vectors.shape[1], np.float32)

    def norms(x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x), dtype=np.float32)
        for i in range(0, len(x), block):
            out[i : i + block] = np.linalg.norm(x[i : i + block] - mean, axis=1)
        return np.maximum(out, 1e-6)

    return mean, norms(chunk_vectors), norms(sentence_vectors)


def save_centring_stats(writer: "IndexWriter", arrays: dict[str, np.ndarray]) -> None:
    """Write each embedder's corpus mean and centred norms (chunks and sentences) next to its vectors."""
    for chunk_name, sent_name in ((PRIMARY, PRIMARY_SENT), (SECOND, SECOND_SENT)):
        if chunk_name in arrays:
            mean, chunk_norms, sentence_norms = centring_stats(arrays[chunk_name], arrays[sent_name])
            writer.save_array(mean_array(chunk_name), mean)
            writer.save_array(cnorm_array(chunk_name), chunk_norms)
            writer.save_array(cnorm_array(sent_name), sentence_norms)
