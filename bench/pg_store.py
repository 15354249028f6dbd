"""Both stores on one synthetic index (issue 21, Done-when 3): write time, search and ask p50/p95, recall@10 of
pgvector's HNSW index against exact search, size on disk.

    python -m bench.synthetic --chunks 100000 --out $BENCH_WORK/synth-100000 [--pool-index <a real index>]
    python -m bench.pg_store --index $BENCH_WORK/synth-100000 [--write]

The folder store is the synthetic index itself (its write time is bench/synthetic.py's, logged there); the
database store gets the same version folder through `PgStore.upload` (COPY of documents, chunks with their
vectors, pages and arrays, then the HNSW index, in one transaction), in a PostgreSQL started by pgserver.
Questions: every 4th of eval/dev.jsonl, each searched (`Assistant.retrieve`) then asked, on both stores, in
this process after 3 warm-up questions. Recall@10: pgvector's top 10 (hnsw.ef_search 40, its default) against
the exact top 10 by inner product over the float32 chunk vectors.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, WORK, load, machine_md, pct, write_section
from eval.harness import load_dataset


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def measure(assistant, questions: list[str]) -> dict:
    for q in questions[:3]:
        assistant.ask(q)
    search, ask = [], []
    for q in questions:
        t0 = time.perf_counter()
        assistant.retrieve(q)
        search.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.ask(q)
        ask.append((time.perf_counter() - t0) * 1000)
    return {"search_p50_ms": round(pct(search, 50), 1), "search_p95_ms": round(pct(search, 95), 1),
            "ask_p50_ms": round(pct(ask, 50), 1), "ask_p95_ms": round(pct(ask, 95), 1)}


def recall_at_10(reader, questions: list, k: int = 10) -> float:
    from indexer.format import PRIMARY
    from indexer.pgstore import PgVectorIndex

    vectors = np.asarray(reader.array(PRIMARY))
    ann = PgVectorIndex(reader.store, reader.schema, reader.n_chunks)
    hits = []
    for q in questions:
        exact = np.argsort(-(vectors @ q), kind="stable")[:k]
        _, found = ann.search(q[None, :], k)
        hits.append(len(set(exact.tolist()) & set(found[0].tolist())) / k)
    return float(np.mean(hits))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="a synthetic index folder (bench/synthetic.py)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--every", type=int, default=4, help="every Nth question of eval/dev.jsonl")
    args = parser.parse_args(argv)
    import pgserver

    from assistant.pipeline import Assistant
    from assistant.settings import Settings
    from indexer.backend import close_database_stores, open_store
    from indexer.format import PRIMARY
    from indexer.store import current_version

    load_start = load()
    version = current_version(args.index)
    manifest = json.loads((version / "manifest.json").read_text("utf-8"))
    folder = Path(tempfile.mkdtemp(prefix="povqa-pg-", dir=WORK if WORK.exists() else None))
    server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    url = server.get_uri()
    result: dict = {"chunks": manifest["chunks"], "sentences": manifest["sentences"],
                    "dim": manifest["embedder"]["dim"], "faiss": manifest.get("faiss")}
    try:
        store = open_store(url, args.index)
        timings: dict[str, float] = {}
        store.upload(version, manifest, timings=timings)
        result["upload"] = {k: round(v, 1) for k, v in timings.items()}
        with store.connection() as conn:
            result["db_mb"] = round(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6)
            result["hnsw_mb"] = round(conn.execute(
                "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw'").fetchone()[0] / 1e6)
        result["files_mb"] = round(dir_mb(version))
        print(json.dumps(result), flush=True)
        items = load_dataset(ROOT / "eval" / "dev.jsonl")[:: args.every]
        questions = [item["question"] for item in items]
        result["questions"] = len(questions)
        for name, spec in (("files", "files"), ("postgresql", url)):
            assistant = Assistant.load(Settings(index_dir=args.index, store=spec))
            result[name] = measure(assistant, questions)
            if name == "postgresql":
                queries = assistant.retriever.prepare_batch(questions)
                result["recall@10"] = round(recall_at_10(assistant.retriever.reader,
                                                         [q.vectors[PRIMARY].astype(np.float32) for q in queries]), 3)
            assistant.retriever.reader.close()
            print(name, result[name], flush=True)
    finally:
        close_database_stores()
        server.cleanup()
    (WORK / "pg-store.json").write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))
    if args.write:
        write_section("pg-store", markdown(result, machine_md(load_start, load())))


def markdown(r: dict, machine: str) -> str:
    up = r["upload"]
    return "\n".join([
        f"`python -m bench.pg_store --index <synthetic {r['chunks']:,}-chunk index> --write`; {machine}", "",
        f"{r['chunks']:,} chunks, {r['sentences']:,} sentences, {r['dim']} dimensions (bench/synthetic.py); the "
        f"folder store's dense index: {r['faiss']}; the database's: pgvector HNSW (m 16, ef_construction 64).", "",
        "| | folder store | PostgreSQL + pgvector |", "|---|---|---|",
        f"| write | (bench/synthetic.py's build) | {up['total_s']} s: rows+vectors {up['rows_s']} s, arrays "
        f"{up['files_s']} s, HNSW {up.get('hnsw_s', '-')} s |",
        f"| size on disk | {r['files_mb']} MB | {r['db_mb']} MB (HNSW index {r['hnsw_mb']} MB) |",
        f"| search p50 / p95 ({r['questions']} questions) | {r['files']['search_p50_ms']} / "
        f"{r['files']['search_p95_ms']} ms | {r['postgresql']['search_p50_ms']} / "
        f"{r['postgresql']['search_p95_ms']} ms |",
        f"| ask p50 / p95 | {r['files']['ask_p50_ms']} / {r['files']['ask_p95_ms']} ms | "
        f"{r['postgresql']['ask_p50_ms']} / {r['postgresql']['ask_p95_ms']} ms |",
        f"| recall@10 of the approximate index against exact | (IVF-Flat: bench/RESULTS.md, query speed) | "
        f"{r['recall@10']} (ef_search 40) |", ""])


if __name__ == "__main__":
    main()
