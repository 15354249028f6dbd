"""Load smoke test: bench/load.py's async clients against a real `povqa serve` (fake embedder), a few seconds.
The full run (50 clients x 60 s on the real index) is `python -m bench.load`; numbers in the README."""

from __future__ import annotations

import asyncio

from bench.load import percentile, run_load
from bench.serve import build_fake_index, running_server
from tests.conftest import SAMPLE_NOTES


def test_concurrent_clients_get_answers_without_errors_and_memory_stays_flat(tmp_path):
    build_fake_index(tmp_path / "index", SAMPLE_NOTES, tmp_path / "notes")
    with running_server(tmp_path / "index", tmp_path / "server.log") as server:
        result = asyncio.run(run_load(server.url, clients=8, seconds=6, pid=server.pid))
    print({k: v for k, v in result.items() if k != "rss_samples"})
    assert result["errors"] == 0, result["error_examples"]
    assert result["ok"] >= 20
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    rss = result["rss_mb"]
    assert rss["end"] - rss["after_warmup"] < 50, result["rss_samples"]


def test_percentiles():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (51, 95, 99)
    assert percentile([7.0], 99) == 7.0
