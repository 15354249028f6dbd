"""Start `povqa serve` in a child process on a free loopback port, for benches and tests that need a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_fake_index(index_dir: Path, notes: dict[str, str], folder: Path) -> None:
    """Index `notes` (name -> text) with the tests' fake embedder into `index_dir`."""
    from assistant.settings import Settings
    from indexer.build import build_index
    from tests.conftest import HashEmbedder

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / name).write_text(text, "utf-8")
    settings = Settings(index_dir=index_dir, embedder="fake", retrieval={"second_embedder": ""})
    build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)


@contextmanager
def running_server(index_dir: Path, log: Path, fake: bool = True, env: dict[str, str] | None = None,
                   startup_s: float = 180) -> Iterator[Server]:
    """`povqa serve` over `index_dir` (fake embedder unless `fake=False`); stdout and stderr go to `log`."""
    port = free_port()
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), "POVQA_INDEX_DIR": str(index_dir), **(env or {})}
    if fake:
        child_env.update({"POVQA_EMBEDDER": "fake", "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""})
        child_env.setdefault("POVQA_CORPUS_DIR", str(index_dir.parent / "corpus"))  # uploads never reach docs_corpus/
    module = "bench.fakecli" if fake else "assistant.cli"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=child_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"povqa serve exited with {proc.returncode}:\n{log.read_text('utf-8', 'replace')}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"povqa serve did not come up in {startup_s}s:\n{log.read_text('utf-8', 'replace')}")
            time.sleep(0.3)
        yield Server(url, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
