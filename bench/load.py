"""Load: `python -m bench.load --clients 50 --seconds 60 [--url URL --pid PID | --index-dir DIR | --fake]`.

`--clients` concurrent async clients (httpx) post questions from eval/dev.jsonl (8 languages) to `/api/ask` for
`--seconds`, each sending its next question as soon as the last one is answered. Reports requests, errors (any
non-200 or transport failure), throughput, latency p50/p95/p99 and the server's resident memory sampled every
second (start, after warm-up, end, max), so a leak shows as a rising line. With `--index-dir` it starts
`povqa serve` over that index with the configured (real) embedders; with `--fake`, over a small index built with
the tests' fake embedder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from eval.harness import load_dataset

ROOT = Path(__file__).resolve().parent.parent


def questions(path: Path = ROOT / "eval" / "dev.jsonl") -> list[dict]:
    return [{"question": row["question"], **({"mode": "briefing"} if row["kind"] == "briefing" else {})}
            for row in load_dataset(path)]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run_load(url: str, clients: int, seconds: float, pid: int | None = None, api_key: str | None = None,
                   timeout: float = 300.0) -> dict:
    bodies = questions()
    latencies: list[float] = []
    errors: list[str] = []
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    stop_at = started + seconds
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(n: int, http: httpx.AsyncClient) -> None:
        i = n * 7
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = await http.post("/api/ask", json=body)
                if r.status_code != 200 or "answer" not in r.json():
                    errors.append(f"{r.status_code}: {r.text[:120]}")
                    continue
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            if pid is not None and (mb := rss_mb(pid)) is not None:
                samples.append((time.monotonic() - started, mb))
            await asyncio.sleep(1.0)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        await asyncio.gather(sampler(), *(client(n, http) for n in range(clients)))
    wall = time.monotonic() - started
    mem = [mb for _, mb in samples]
    warm = [mb for t, mb in samples if t >= min(10.0, seconds / 3)] or mem
    return {
        "clients": clients, "seconds": round(wall, 1), "requests": len(latencies) + len(errors),
        "ok": len(latencies), "errors": len(errors), "error_examples": errors[:5],
        "throughput_rps": round(len(latencies) / wall, 2),
        "p50_ms": round(percentile(latencies, 50)), "p95_ms": round(percentile(latencies, 95)),
        "p99_ms": round(percentile(latencies, 99)),
        "mean_ms": round(statistics.fmean(latencies)) if latencies else None,
        "rss_mb": {"start": round(mem[0]) if mem else None, "after_warmup": round(warm[0]) if warm else None,
                   "end": round(mem[-1]) if mem else None, "max": round(max(mem)) if mem else None},
        "rss_samples": [(round(t, 1), round(mb)) for t, mb in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", help="a running server (give --pid to sample its memory)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--api-key")
    parser.add_argument("--index-dir", type=Path, help="start povqa serve over this index (real embedders)")
    parser.add_argument("--fake", action="store_true", help="start povqa serve over a small fake-embedder index")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    from bench.serve import build_fake_index, running_server

    with ExitStack() as stack:
        url, pid = args.url, args.pid
        if url is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            if args.fake:
                from tests.conftest import SAMPLE_NOTES

                build_fake_index(tmp / "index", SAMPLE_NOTES, tmp / "notes")
                index_dir = tmp / "index"
            else:
                index_dir = args.index_dir or Path(".povqa/index")
            server = stack.enter_context(running_server(index_dir, tmp / "server.log", fake=args.fake, startup_s=600))
            url, pid = server.url, server.pid
            httpx.post(url + "/api/ask", json={"question": "warm-up"}, timeout=300)  # first-call initialisation
        result = asyncio.run(run_load(url, args.clients, args.seconds, pid, args.api_key))
    summary = {k: v for k, v in result.items() if k != "rss_samples"}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print("rss over time (s, MB):", " ".join(f"{t:.0f}:{mb}" for t, mb in result["rss_samples"][:: max(1, len(result['rss_samples']) // 15)]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    sys.exit(0 if result["errors"] == 0 and result["ok"] > 0 else 1)


if __name__ == "__main__":
    main()
