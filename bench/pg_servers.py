"""Several povqa servers on one PostgreSQL database (issue 21, Done-when 1 and 2), loopback only, bounded.

    python -m bench.pg_servers [--fake] [--dataset eval/dev.jsonl] [--outage-s 10] [--clients 20] [--xquad]

1. Starts PostgreSQL 16 + pgvector (pgserver) in the work folder; `povqa index docs_corpus/` into a folder
   (POVQA_STORE=files) and into the database (POVQA_STORE=postgresql://...), timed.
2. One `povqa serve` over the folder and two over the database, on three ports; `povqa eval <dataset> --url`
   against each; the report rows (answers, citations, refusals, scores; not the latencies) compared.
3. The outage: `--clients` clients ask the two database servers in turn; the database is stopped for
   `--outage-s` seconds and started again; every answer's status is counted before, during and after, and
   the servers are never restarted.
4. `--xquad`: the XQuAD retrieval table (`python -m eval.xquad`) with its index in a folder and in a second
   database of the same PostgreSQL (`--store postgresql://.../xquad`), each built from scratch; tables compared.

Writes the `pg-servers` section of bench/RESULTS.md and <work>/pg-servers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.common import ROOT, WORK, load, machine_md, write_section
from bench.serve import running_server
from indexer.backend import close_database_stores, open_store
from indexer.store import current_version

IGNORED = ("latency", "seconds", "timings")  # and every key ending in _ms


def start_pg(folder: Path):
    import pgserver

    return pgserver.get_server(folder, cleanup_mode="stop")


def index(env: dict[str, str], corpus: Path, log: Path, fake: bool) -> float:
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-m", "bench.fakecli" if fake else "assistant.cli", "index", str(corpus)],
                       env=env, cwd=ROOT, check=True,
                       stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def evaluate(url: str, dataset: Path, report: Path, env: dict[str, str]) -> list[dict]:
    """`povqa eval --url` (the eval command needs no embedder of its own)."""
    subprocess.run([sys.executable, "-m", "assistant.cli", "eval", str(dataset), "--url", url, "--report", str(report)],
                   env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = json.loads((report / "report.json").read_text("utf-8"))
    runs = data["runs"] if "runs" in data else [data]
    return [strip(r) for r in runs[0]["rows"]]


def database_url(url: str, name: str, fresh: bool = False) -> str:
    """`url` naming the database `name` instead (created if missing; dropped first if `fresh`)."""
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    with psycopg.connect(url, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def xquad(stores: dict[str, str], work: Path, env: dict[str, str]) -> dict:
    """`python -m eval.xquad --store <spec>` for each store, from scratch, timed; tables compared without times."""
    out: dict = {}
    for name, spec in stores.items():
        folder = work / f"xquad-{name}"
        t0 = time.perf_counter()
        with open(work / f"xquad-{name}.log", "wb") as log:
            subprocess.run([sys.executable, "-m", "eval.xquad", "--out", str(folder), "--store", spec], env=env,
                           cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
        report = json.loads((folder / "xquad.json").read_text("utf-8"))
        out[name] = {"seconds": round(time.perf_counter() - t0), "summary": report["summary"],
                     "table": (folder / "xquad.md").read_text("utf-8"), "results": strip(report["results"])}
    first = next(iter(out.values()))
    for entry in out.values():
        entry["identical_to_files"] = entry["results"] == first["results"]
    return out


def strip(row):
    if isinstance(row, dict):
        return {k: strip(v) for k, v in row.items() if k not in IGNORED and not k.endswith("_ms")}
    if isinstance(row, list):
        return [strip(v) for v in row]
    return row


def outage(urls: list[str], clients: int, before_s: float, outage_s: float, after_s: float, stop, start,
           question: str = "What did IPRCC do in Tanzania?") -> dict:
    """Clients asking `urls` in turn while the database is stopped (`stop()`) and started again (`start()`)."""
    phase = ["before"]
    counts: dict[str, Counter] = {"before": Counter(), "outage": Counter(), "after": Counter()}
    retry_after: Counter = Counter()
    first_ok_after: list[float] = []
    restarted = [0.0]
    done = threading.Event()
    lock = threading.Lock()

    def client(i: int) -> None:
        with httpx.Client(timeout=30) as http:
            n = i
            while not done.is_set():
                url = urls[n % len(urls)]
                n += 1
                try:
                    r = http.post(url + "/api/ask", json={"question": question})
                    status = r.status_code
                    if status == 503 and r.headers.get("retry-after"):
                        retry_after["with"] += 1
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    counts[phase[0]][status] += 1
                    if phase[0] == "after" and status == 200 and not first_ok_after:
                        first_ok_after.append(time.monotonic() - restarted[0])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(before_s)
    phase[0] = "outage"  # from the moment the stop begins (PostgreSQL's fast shutdown ends sessions at once)
    stop()
    time.sleep(outage_s)
    start()
    restarted[0] = time.monotonic()
    phase[0] = "after"
    time.sleep(after_s)
    done.set()
    for t in threads:
        t.join(timeout=60)
    return {"counts": {k: {str(s): n for s, n in v.items()} for k, v in counts.items()},
            "retry_after_on_503": retry_after["with"],
            "first_200_after_restart_s": round(first_ok_after[0], 2) if first_ok_after else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK / "pg-servers")
    parser.add_argument("--corpus", type=Path, default=ROOT / "docs_corpus")
    parser.add_argument("--dataset", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--fake", action="store_true", help="the fake embedder (a quick check of the machinery)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--skip-outage", action="store_true")
    parser.add_argument("--xquad", action="store_true", help="also the XQuAD retrieval table through both stores")
    parser.add_argument("--seed", action="store_true",
                        help="reuse <work>/files-index if built, and copy it into the database before `povqa index` "
                        "(which then embeds only what changed) instead of embedding the corpus twice")
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    load_start = load()
    pg_dir = work / "pg" / "data"
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    server = start_pg(pg_dir)
    url = server.get_uri()
    base = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    if args.fake:
        base.update({"POVQA_EMBEDDER": "fake", "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""})
    files_env = {**base, "POVQA_STORE": "files", "POVQA_INDEX_DIR": str(work / "files-index")}
    pg_env = {**base, "POVQA_STORE": url, "POVQA_INDEX_DIR": str(work / "unused-index")}
    result: dict = {"database": url.split("?")[0], "dataset": str(args.dataset), "fake": args.fake}
    result["index_s"] = {}
    if not (args.seed and current_version(work / "files-index")):
        result["index_s"]["files"] = round(index(files_env, args.corpus, work / "index-files.log", args.fake), 1)
    if args.seed:  # the folder's version copied into the database (PgStore.upload), then `povqa index` finds it
        t0 = time.perf_counter()
        version = current_version(work / "files-index")
        open_store(url, work).upload(version, json.loads((version / "manifest.json").read_text("utf-8")))
        close_database_stores()
        result["index_s"]["seed_upload"] = round(time.perf_counter() - t0, 1)
    result["index_s"]["postgresql"] = round(index(pg_env, args.corpus, work / "index-pg.log", args.fake), 1)
    result["index_pg_says"] = [line for line in (work / "index-pg.log").read_text("utf-8", "replace").splitlines()
                               if "documents," in line][-1:]
    print("indexed", result["index_s"], result["index_pg_says"], flush=True)
    with ExitStack() as stack:
        servers = {name: stack.enter_context(running_server(work / "unused-index", work / f"serve-{name}.log",
                                                            fake=args.fake, env=env, startup_s=900))
                   for name, env in (("files", files_env), ("pg-1", pg_env), ("pg-2", pg_env))}
        if not args.skip_eval:
            rows = {name: evaluate(s.url, args.dataset, work / f"report-{name}", base) for name, s in servers.items()}
            result["eval"] = {name: {"rows": len(r), "identical_to_files": r == rows["files"],
                                     "differing_rows": sum(a != b for a, b in zip(r, rows["files"]))}
                              for name, r in rows.items()}
            print("eval", result["eval"], flush=True)
        state = {"server": server}

        def stop():
            import psycopg

            state["server"].cleanup()  # pgserver leaves running a server another process registered with...
            pid_file = pg_dir / "postmaster.pid"
            if pid_file.exists():  # ...so stop it as pg_ctl's fast mode does
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
                deadline = time.monotonic() + 30
                while pid_file.exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
            try:
                psycopg.connect(url, connect_timeout=2).close()
                state["stopped"] = False
            except psycopg.OperationalError:
                state["stopped"] = True

        def start():
            state["server"] = start_pg(pg_dir)
            state["server"].ensure_postgres_running()  # pgserver may hand back its cached, stopped instance

        if not args.skip_outage:
            result["outage"] = outage([servers["pg-1"].url, servers["pg-2"].url], args.clients, 5.0,
                                      args.outage_s, 20.0, stop, start)
            result["outage"]["clients"], result["outage"]["outage_s"] = args.clients, args.outage_s
            result["outage"]["database_stopped"] = state.get("stopped")
            print("outage", result["outage"], flush=True)
    if args.xquad:
        result["xquad"] = xquad({"files": "files", "postgresql": database_url(url, "xquad", fresh=True)}, work, base)
        print("xquad", {k: (v["seconds"], v["identical_to_files"]) for k, v in result["xquad"].items()}, flush=True)
    state["server"].cleanup()
    (work / "pg-servers.json").write_text(json.dumps(result, indent=2), "utf-8")
    if args.write:
        write_section("pg-servers", markdown(result, machine_md(load_start, load())))
    print(json.dumps(result, indent=2))


def markdown(result: dict, machine: str) -> str:
    t = result["index_s"]
    if "seed_upload" in t:
        how = (f"the folder's version copied into PostgreSQL in {t['seed_upload']} s (`--seed`), then `POVQA_STORE="
               f"postgresql://... povqa index docs_corpus/` in {t['postgresql']} s: "
               f"{' '.join(result['index_pg_says'])}")
    else:
        how = f"{t['files']} s into a folder, {t['postgresql']} s into PostgreSQL (both embed everything)"
    lines = [f"`python -m bench.pg_servers --write` ({'fake embedder' if result['fake'] else 'real embedders'}); "
             f"{machine}", "", f"`povqa index docs_corpus/`: {how}.", ""]
    if "eval" in result:
        lines += [f"`povqa eval {result['dataset']} --url` against each server (rows compared without latencies):", "",
                  "| server | store | rows | identical to the folder store's |", "|---|---|---|---|"]
        for name, e in result["eval"].items():
            store = "folder" if name == "files" else "PostgreSQL"
            lines.append(f"| {name} | {store} | {e['rows']} | {'yes' if e['identical_to_files'] else 'no'} "
                         f"({e['differing_rows']} differ) |")
        lines.append("")
    if "xquad" in result:
        lines += xquad_markdown(result["xquad"])
    if "outage" not in result:
        return "\n".join(lines) + "\n"
    o = result["outage"]
    lines += [f"Database stopped for {o['outage_s']} s under {o['clients']} clients asking the two database "
              "servers in turn (each answer counted in the phase in which it came back):", "",
              "| phase | answers by status |", "|---|---|"]
    for phase, counts in o["counts"].items():
        lines.append(f"| {phase} | {', '.join(f'{s}: {n}' for s, n in sorted(counts.items())) or '-'} |")
    lines += ["", f"503s with Retry-After: {o['retry_after_on_503']}; first 200 after the restart: "
              f"{o['first_200_after_restart_s']} s; no server restarted."]
    return "\n".join(lines) + "\n"


def xquad_markdown(runs: dict) -> list[str]:
    lines = ["`python -m eval.xquad --store files|postgresql://.../xquad` (each index built from scratch, 240 "
             "paragraphs; 1,190 questions per language):", ""]
    for name, run in runs.items():
        same = "" if name == "files" else (" — identical to the folder store's, every language and score"
                                           if run["identical_to_files"] else " — DIFFERS from the folder store's")
        lines += [f"{'Folder store' if name == 'files' else 'PostgreSQL store'} ({run['seconds']} s){same}:", "",
                  run["table"].rstrip(), ""]
    return lines


if __name__ == "__main__":
    main()
