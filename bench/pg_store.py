"""Both stores on one synthetic index (issue 21, Done-when 3), and where pgvector's HNSW index starts to pay.

    python -m bench.pg_store --chunks 100000 --pool-index <a real index> [--sweep 10000,25000,50000] [--write]

1. The folder store: `bench/synthetic.py` writes a synthetic index of `--chunks` chunks (real text and real
   vectors recombined, see there), timed: that is the folder store's write (in the store format, SQLite, BM25,
   dense.faiss).
2. The database store: the same version folder copied in by `PgStore.upload` (COPY of documents, chunks with
   their vectors, pages and arrays, then the HNSW index, in one transaction), timed by step, into PostgreSQL 16
   + pgvector started by pgserver; once as the reader gets it by default (no HNSW index below ANN_MIN_CHUNKS: the
   reader searches its copy of the build's dense.faiss, as the folder store does) and once with pgvector's HNSW
   index, which the reader then searches instead, each in its own database. Sizes: pg_database_size, the HNSW index's pg_relation_size, the folder's bytes.
3. Load (`Assistant.load`: for the database, the copy of the generation's arrays), search (`Assistant.retrieve`)
   and ask p50/p95 on the three (every `--every`th question of eval/dev.jsonl, after
   3 warm-up questions), in this process; how many of the top 10 passages the HNSW reader shares with the folder
   store's; recall@10 of the dense candidates against exact search (the reader's path: 1,000 HNSW neighbours at
   ef_search 1000, re-scored exactly; and pgvector's default, ef_search 40, for reference).
4. `--sweep`: smaller sizes of chunk vectors alone (same recipe), each in its own table with its own HNSW index,
   and this size's: per question, the dense index the folder store writes at that size (flat up to
   index.flat_limit, then IVF) against pgvector's HNSW through the reader's path; HNSW build seconds and bytes
   per chunk (the memory to give PostgreSQL per million chunks).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, WORK, load, machine_md, pct, write_section
from eval.harness import load_dataset

HNSW_ALWAYS = 0  # ann_min for a generation with the HNSW index


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def ms_stats(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 50), 2), "p95_ms": round(pct(values, 95), 2)}


def measure(assistant, questions: list[str]) -> dict:
    for q in questions[:3]:
        assistant.retrieve(q)
        assistant.ask(q)
    search, ask, top = [], [], []
    for q in questions:
        t0 = time.perf_counter()
        _, hits = assistant.retrieve(q)
        search.append((time.perf_counter() - t0) * 1000)
        top.append([h.row for h in hits[:10]])
        t0 = time.perf_counter()
        assistant.ask(q)
        ask.append((time.perf_counter() - t0) * 1000)
    return {"search": ms_stats(search), "ask": ms_stats(ask), "top10": top}


def exact_top(vectors: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(vectors @ q), kind="stable")[:k]


def dense_paths(vectors: np.ndarray, queries: list[np.ndarray], hnsw, m: int = 100, refine: int = 10) -> dict:
    """Per question: the folder store's dense index at this size, exact flat search, and pgvector's HNSW through
    the reader's path (`dense_candidates`: refine x m neighbours re-scored exactly); recall@10 against exact."""
    import faiss

    from assistant.retrieval import dense_candidates
    from indexer.dense_index import make_faiss_index

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    t0 = time.perf_counter()
    chosen, info = make_faiss_index(vectors)
    build_s = time.perf_counter() - t0
    paths = {"flat": (flat, True), f"folder store ({info['type']})": (chosen, info["type"] != "ivfpq"),
             "pgvector HNSW": (hnsw, False)}  # the reader's path: 1,000 neighbours at ef_search 1000, re-scored
    for factor in (1, 2, 4):  # 100 neighbours at ef_search 100, 200, 400; pgvector's distances are exact already
        paths[f"HNSW ef_search {100 * factor}"] = (type(hnsw)(hnsw.store, hnsw.schema, hnsw.ntotal, factor), True)
    out: dict = {"folder_index": info, "folder_index_build_s": round(build_s, 1)}
    for name, (index, exact) in paths.items():
        dense_candidates(index, exact, vectors, queries[0], m, refine)  # warm-up
        times, hits = [], []
        for q in queries:
            t0 = time.perf_counter()
            rows = dense_candidates(index, exact, vectors, q, m, refine)
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(len(set(rows[:10].tolist()) & set(exact_top(vectors, q, 10).tolist())) / 10)
        out[name] = {**ms_stats(times), "recall@10": round(float(np.mean(hits)), 3)}
    return out


def recall_ef40(store, schema: str, n: int, vectors: np.ndarray, queries: list[np.ndarray]) -> float:
    """recall@10 of pgvector's own top 10 at its default hnsw.ef_search (40)."""
    hits = []
    with store.connection() as conn:
        for q in queries:
            text = "[" + ",".join(map(repr, q.tolist())) + "]"
            found = [r for (r,) in conn.execute(f"SELECT row FROM {schema}.chunks ORDER BY dense <#> %s::vector "
                                                "LIMIT 10", [text])]
            hits.append(len(set(found) & set(exact_top(vectors, q, 10).tolist())) / 10)
    return round(float(np.mean(hits)), 3)


def sweep_size(store, n: int, vectors: np.ndarray, queries: list[np.ndarray]) -> dict:
    """A table of n chunk vectors with its HNSW index (timed, sized), then `dense_paths` over it."""
    from indexer.pgstore import _vector_dumper
    from indexer.pgreader import PgVectorIndex

    schema = f"povqa_sweep_{n}"
    with store.dedicated() as conn:
        _vector_dumper(conn)
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.chunks (row int PRIMARY KEY, "
                     f"dense vector({vectors.shape[1]}) NOT NULL)")
        with conn.cursor().copy(f"COPY {schema}.chunks (row, dense) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for row in range(n):
                copy.write_row((row, vectors[row]))
        conn.execute("SET maintenance_work_mem = '1GB'")
        t0 = time.perf_counter()
        conn.execute(f"CREATE INDEX {schema}_hnsw ON {schema}.chunks USING hnsw (dense vector_ip_ops)")
        build_s = time.perf_counter() - t0
        size = conn.execute(f"SELECT pg_relation_size('{schema}.{schema}_hnsw')").fetchone()[0]
    out = {"chunks": n, "hnsw_build_s": round(build_s, 1), "hnsw_bytes_per_chunk": round(size / n),
           **dense_paths(vectors, queries, PgVectorIndex(store, schema, n))}
    with store.connection() as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return out


def upload(url: str, version: Path, manifest: dict, ann_min: int) -> dict:
    from indexer.backend import open_store

    store = open_store(url, version)
    timings: dict[str, float] = {}
    store.upload(version, manifest, ann_min=ann_min, timings=timings)
    with store.connection() as conn:
        db = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        hnsw = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw'").fetchone()[0]
    return {"upload_s": {k: round(v, 1) for k, v in timings.items()}, "db_mb": round(db / 1e6),
            "hnsw_mb": round(int(hnsw) / 1e6)}


def build_folder(n: int, out: Path, pool_index: list[Path], settings) -> tuple[Path, dict]:
    from bench import synthetic

    t0 = time.perf_counter()
    pool = synthetic.Pool(*pool_index)
    sparse = synthetic.sparse_for(pool, settings, out.parent / "pool_sparse.npz")
    pool_s = time.perf_counter() - t0
    steps: list[str] = []
    t0 = time.perf_counter()
    version = synthetic.build(n, out, pool, settings, sparse=sparse, log=lambda line: (print(line, flush=True),
                                                                                          steps.append(line.strip())))
    return version, {"pool_s": round(pool_s, 1), "write_s": round(time.perf_counter() - t0, 1), "steps": steps,
                     "pool": pool}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--pool-index", type=Path, action="append", required=True,
                        help="a real index (povqa index, real embedders) whose sentences and vectors are recombined")
    parser.add_argument("--work", type=Path, default=WORK / "pg-store")
    parser.add_argument("--sweep", default="10000,25000,50000", help="smaller sizes for the HNSW sweep ('' none)")
    parser.add_argument("--every", type=int, default=4, help="every Nth question of eval/dev.jsonl")
    parser.add_argument("--ann-min", type=int, help="the HNSW threshold (default: indexer.pgstore.ANN_MIN_CHUNKS)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    import pgserver

    from assistant.settings import Settings
    from bench.pg_servers import database_url
    from indexer.backend import close_database_stores
    from indexer.pgstore import ANN_MIN_CHUNKS

    ann_min = ANN_MIN_CHUNKS if args.ann_min is None else args.ann_min
    load_start = load()
    args.work.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    version, folder = build_folder(args.chunks, args.work / f"synth-{args.chunks}", args.pool_index, settings)
    pool = folder.pop("pool")
    manifest = json.loads((version / "manifest.json").read_text("utf-8"))
    result: dict = {"chunks": manifest["chunks"], "sentences": manifest["sentences"], "dim": manifest["embedder"]["dim"],
                    "faiss": manifest.get("faiss"), "ann_min_chunks": ann_min, "folder": folder,
                    "files_mb": round(dir_mb(version))}
    server = pgserver.get_server(args.work / "pgdata", cleanup_mode="stop")
    urls = {"postgresql": database_url(server.get_uri(), "povqa_default", fresh=True),
            "postgresql_hnsw": database_url(server.get_uri(), "povqa_hnsw", fresh=True)}
    try:
        result["postgresql"] = upload(urls["postgresql"], version, manifest, ann_min)
        result["postgresql_hnsw"] = upload(urls["postgresql_hnsw"], version, manifest, HNSW_ALWAYS)
        print(json.dumps(result, default=str), flush=True)
        for key, value in ask_and_search(args, settings, version, urls).items():
            result[key] = {**result[key], **value} if isinstance(result.get(key), dict) else value
        if args.sweep:
            result["sweep"] = sweep(args, urls["postgresql_hnsw"], pool, result.pop("_queries"), version,
                                    result["chunks"])
    finally:
        close_database_stores()
        server.cleanup()
    result.pop("_queries", None)
    (args.work / "pg-store.json").write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))
    if args.write:
        write_section("pg-store", markdown(result, machine_md(load_start, load())))


def ask_and_search(args, settings, version: Path, urls: dict[str, str]) -> dict:
    from assistant.pipeline import Assistant
    from indexer.format import PRIMARY

    questions = [item["question"] for item in load_dataset(ROOT / "eval" / "dev.jsonl")[:: args.every]]
    out: dict = {"questions": len(questions)}
    for name, spec in (("files", "files"), *urls.items()):
        t0 = time.perf_counter()
        assistant = Assistant.load(settings.model_copy(update={"index_dir": version.parent, "store": spec}))
        load_s = round(time.perf_counter() - t0, 1)
        out[name] = {"load_s": load_s, **measure(assistant, questions)}
        if name == "postgresql_hnsw":
            queries = [q.vectors[PRIMARY].astype(np.float32) for q in assistant.retriever.prepare_batch(questions)]
            reader = assistant.retriever.reader
            vectors = np.asarray(reader.array(PRIMARY))
            out["_queries"] = queries
            out["recall@10_ef40"] = recall_ef40(reader.store, reader.schema, reader.n_chunks, vectors, queries)
        assistant.retriever.reader.close()
        print(name, {k: v for k, v in out[name].items() if k != "top10"}, flush=True)
    for name in urls:
        shared = [len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(out[name].pop("top10"), out["files"]["top10"])]
        out[name]["top10_shared_with_files"] = round(float(np.mean(shared)), 3)
    out["files"].pop("top10")
    return out


def sweep(args, url: str, pool, queries: list[np.ndarray], version: Path, n_main: int) -> list[dict]:
    from bench import synthetic
    from indexer.backend import open_store
    from indexer.format import PRIMARY
    from indexer.pgreader import PgVectorIndex, schema_of

    store = open_store(url, version)
    rows = []
    for n in sorted(int(s) for s in args.sweep.split(",") if s):
        rows.append(sweep_size(store, n, synthetic.chunk_vectors(n, pool), queries))
        print("sweep", {k: v for k, v in rows[-1].items()}, flush=True)
    with store.connection() as conn:  # the main generation's own HNSW index, at --chunks
        schema = schema_of(conn.execute("SELECT current FROM povqa.state").fetchone()[0])
        hnsw_bytes = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index i JOIN pg_class c ON c.oid = "
            "i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw' AND i.indrelid = %s::regclass",
            [f"{schema}.chunks"]).fetchone()[0]
    vectors = np.load(version / f"{PRIMARY}.npy", mmap_mode="r", allow_pickle=False)
    main_row = {"chunks": n_main, "hnsw_bytes_per_chunk": round(int(hnsw_bytes) / n_main),
                **dense_paths(np.asarray(vectors), queries, PgVectorIndex(store, schema, n_main))}
    print("sweep", main_row, flush=True)
    return rows + [main_row]


def markdown(r: dict, machine: str) -> str:
    pg, hnsw, f = r["postgresql"], r["postgresql_hnsw"], r["folder"]
    up, uph = pg["upload_s"], hnsw["upload_s"]
    ann = f"{r['ann_min_chunks']:,} chunks" if r["ann_min_chunks"] is not None else "never"
    lines = [
        f"`python -m bench.pg_store --chunks {r['chunks']} --pool-index <a real docs_corpus index> --write`; {machine}",
        "",
        f"{r['chunks']:,} chunks, {r['sentences']:,} sentences, {r['dim']} dimensions (bench/synthetic.py: real "
        f"sentences and their real vectors recombined); the folder store's dense index: {r['faiss']}, which the "
        f"database store's readers search too by default (its HNSW index from ANN_MIN_CHUNKS: {ann}); the last "
        "column forces pgvector's HNSW index (m 16, ef_construction 64), which the reader then searches instead.", "",
        "| | folder store | PostgreSQL (default) | PostgreSQL + HNSW |", "|---|---|---|---|",
        f"| write | {f['write_s']} s (synthetic build: vectors, SQLite, BM25, dense.faiss) | {up['total_s']} s after "
        f"it: rows+vectors {up['rows_s']} s, arrays {up['files_s']} s | {uph['total_s']} s after it, of which "
        f"HNSW {uph.get('hnsw_s', '-')} s |",
        f"| size | {r['files_mb']:,} MB | {pg['db_mb']:,} MB | {hnsw['db_mb']:,} MB (HNSW index {hnsw['hnsw_mb']} MB) |",
        "| load (a server's start or swap) | " + " | ".join(
            f"{r[k]['load_s']} s" if "load_s" in r[k] else "not measured" for k in ("files", "postgresql",
                                                                                  "postgresql_hnsw")) + " |"]
    for what in ("search", "ask"):
        cells = [f"{r[k][what]['p50_ms']} / {r[k][what]['p95_ms']} ms" for k in ("files", "postgresql",
                                                                                 "postgresql_hnsw")]
        lines.append(f"| {what} p50 / p95 ({r['questions']} questions) | " + " | ".join(cells) + " |")
    lines.append(f"| top-10 passages shared with the folder store | - | {pg['top10_shared_with_files']} | "
                 f"{hnsw['top10_shared_with_files']} |")
    lines += ["", f"recall@10 of pgvector's HNSW against exact: {r['recall@10_ef40']} at its default ef_search 40; "
              "the reader's path (1,000 neighbours at ef_search 1000, re-scored exactly): see the sweep's last row.",
              ""]
    if "sweep" in r:
        efs = [k for k in r["sweep"][0] if k.startswith("HNSW ef_search")]
        lines += ["Dense candidates per question (100 kept; ms p50 / p95, recall@10 against exact). pgvector HNSW "
                  "as the reader asks it: 1,000 neighbours at ef_search 1000 re-scored; then 100 neighbours at "
                  "smaller ef_search:", "",
                  "| chunks | flat (exact) | folder store's index | HNSW, reader's path | "
                  + " | ".join(efs) + " | HNSW build | HNSW bytes/chunk |", "|---|" + "---|" * (5 + len(efs))]
        for s in r["sweep"]:
            kind = next(k for k in s if k.startswith("folder store ("))
            cell = lambda d: f"{d['p50_ms']} / {d['p95_ms']} ms, {d['recall@10']}"  # noqa: E731
            lines.append(f"| {s['chunks']:,} | {cell(s['flat'])} | {kind[14:-1]}: {cell(s[kind])} | "
                         f"{cell(s['pgvector HNSW'])} | " + " | ".join(cell(s[e]) for e in efs) +
                         f" | {s.get('hnsw_build_s', uph.get('hnsw_s', '-'))} s | {s['hnsw_bytes_per_chunk']:,} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
