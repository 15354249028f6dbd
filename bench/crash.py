"""Crash safety: `python -m bench.crash [--runs 20] [--seed 1]`.

Each run adds a note to a corpus, starts `povqa index` (fake embedder) in a child process, SIGKILLs it at a random
moment of its run, then checks that the index on disk loads and answers (the previous version, or the new one if
the kill came after the swap), and that the next `povqa index` completes the job: exit 0, the new note searchable,
no half-written version left behind. Prints one line per run and the totals.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = "Who maintains the pumps of the deep wells?"


@dataclass
class RunResult:
    run: int
    delay_s: float
    killed: bool  # False: the child had finished before the kill
    swapped: bool  # the kill came after the new version became current
    survived: bool
    completed: bool
    note: str = ""

    def line(self) -> str:
        what = "killed" if self.killed else "finished first"
        state = "new version" if self.swapped else "previous version"
        ok = "ok" if self.survived and self.completed else "FAIL"
        return f"run {self.run:2d}: {what} at {self.delay_s:5.2f}s; {state} loads and answers: {self.survived}; " \
               f"next run completes: {self.completed} [{ok}] {self.note}"


def _env(index_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "POVQA_INDEX_DIR": str(index_dir), "POVQA_EMBEDDER": "fake",
            "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""}


def _index_cmd(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "bench.fakecli", "index", str(corpus)]


def make_corpus(folder: Path, notes: int = 40, pdf_pages: int = 300) -> Path:
    """The sample notes, `notes` more generated notes and a `pdf_pages`-page PDF: a run of a few seconds."""
    from bench.badfiles import write_big_note, write_pdf_pages
    from tests.conftest import SAMPLE_NOTES

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SAMPLE_NOTES.items():
        (folder / name).write_text(text, "utf-8")
    for i in range(notes):
        write_big_note(folder / f"generated-{i:02d}.md", 0.02, seed=i)
    if pdf_pages:
        write_pdf_pages(folder / "long-report.pdf", pdf_pages)
    return folder


def check_answers(index_dir: Path, token: str | None = None) -> str:
    """'' when the index at `index_dir` loads, answers the probe with a citation (and finds `token`); else why not."""
    from assistant.pipeline import Assistant
    from assistant.retrieval import Retriever
    from assistant.settings import Settings
    from tests.conftest import ALWAYS_ANSWER, HashEmbedder

    try:
        settings = Settings(index_dir=index_dir, embedder="fake", retrieval={"second_embedder": ""})
        retriever = Retriever.load(settings, embedder=HashEmbedder())
        answer = Assistant(retriever, settings=settings, calibration=ALWAYS_ANSWER).ask(PROBE)
        if answer.refused or not answer.citations or answer.citations[0].source != "water.md":
            return f"probe not answered from water.md: {answer.answer[:80]!r}"
        if token and not any(token in h.chunk.text for h in retriever.search(token, 3)):
            return f"{token} not found"
        retriever.reader.close()
    except Exception as exc:  # noqa: BLE001 - any failure to load or answer is what we count
        return f"{type(exc).__name__}: {exc}"
    return ""


def one_run(run: int, corpus: Path, index_dir: Path, max_delay: float, rng: random.Random) -> RunResult:
    from indexer.store import current_version

    token = f"zebracrossing{run}"
    (corpus / f"added-{run:02d}.md").write_text(
        f"# Added note {run}\n\nThe {token} programme trained village water committees in district {run}.\n", "utf-8")
    before = current_version(index_dir)
    delay = rng.uniform(0.0, max_delay)
    child = subprocess.Popen(_index_cmd(corpus), env=_env(index_dir), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    killed = child.poll() is None
    if killed:
        child.send_signal(signal.SIGKILL)
    child.wait()
    after = current_version(index_dir)
    problem = check_answers(index_dir)
    swapped = after != before
    done = subprocess.run(_index_cmd(corpus), env=_env(index_dir), cwd=ROOT, capture_output=True, text=True)
    leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith((".build-", ".current-"))]
    versions = [p.name for p in index_dir.iterdir() if p.name.startswith("v-")]
    completed = done.returncode == 0 and not leftovers and len(versions) == 1
    why = check_answers(index_dir, token) if completed else f"exit {done.returncode}, leftovers {leftovers}, versions {versions}"
    return RunResult(run, delay, killed, swapped, not problem, completed and not why, (problem + " " + why).strip())


def crash_runs(runs: int, seed: int, workdir: Path, notes: int = 40, pdf_pages: int = 300,
               max_delay: float | None = None) -> list[RunResult]:
    """Runs until `runs` children were killed mid-run (at most 2 * runs attempts). Kills fall in 0..`max_delay`
    seconds after the start (default: the measured length of a rebuild)."""
    corpus = make_corpus(workdir / "corpus", notes, pdf_pages)
    index_dir = workdir / "index"
    first = subprocess.run(_index_cmd(corpus), env=_env(index_dir), cwd=ROOT, capture_output=True, text=True)
    if first.returncode != 0 or check_answers(index_dir):
        raise RuntimeError(f"the first build failed: {first.stdout}{first.stderr}")
    if max_delay is None:  # how long a rebuild after adding a note takes: the kills fall anywhere in it
        (corpus / "added-00.md").write_text("# Added note 0\n\nA note added before the kills begin.\n", "utf-8")
        started = time.perf_counter()
        subprocess.run(_index_cmd(corpus), env=_env(index_dir), cwd=ROOT, capture_output=True, check=True)
        max_delay = time.perf_counter() - started
    rng = random.Random(seed)
    results: list[RunResult] = []
    while sum(r.killed for r in results) < runs and len(results) < 2 * runs:
        results.append(one_run(len(results) + 1, corpus, index_dir, max_delay=max_delay, rng=rng))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="kills mid-run to reach")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = crash_runs(args.runs, args.seed, Path(tmp))
    for r in results:
        print(r.line())
    killed = sum(r.killed for r in results)
    survived = sum(r.killed and r.survived and r.completed for r in results)
    print(f"runs: {len(results)}; killed mid-run: {killed} (after the swap: {sum(r.killed and r.swapped for r in results)}); "
          f"survived (index loads and answers, next run completes): {survived}/{killed}")
    sys.exit(0 if all(r.survived and r.completed for r in results) else 1)


if __name__ == "__main__":
    main()
