"""`povqa`: a thin shell over the indexer and assistant functions."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from assistant.settings import Settings

app = typer.Typer(
    help="povqa: cited answers from poverty-reduction and development-cooperation documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

IndexDir = Annotated[Optional[Path], typer.Option("--index-dir", help="Index folder (default: POVQA_INDEX_DIR or .povqa/index).")]


def _settings(index_dir: Path | None = None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise typer.BadParameter(f"invalid POVQA_* setting: {exc}") from exc
    if index_dir is not None:
        settings = settings.model_copy(update={"index_dir": index_dir})
    return settings


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


class _RichProgress:
    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = None

    def start_embedding(self, total: int) -> None:
        self.task = self.progress.add_task("embedding", total=total)

    def start_lexicon(self, total: int) -> None:
        if total:
            self.task = self.progress.add_task("lexicon words", total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def file_done(self, report) -> None:
        colour = {"failed": "red", "skipped": "yellow", "duplicate": "yellow", "removed": "cyan"}.get(report.status, "green")
        self.progress.console.print(f"[{colour}]{report.line()}[/{colour}]", highlight=False, markup=True)


@app.command()
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders (default: docs_corpus/).")] = None,
    index_dir: IndexDir = None,
) -> None:
    """Index PDFs and notes (.md, .txt). Only new or changed files are embedded."""
    from indexer.build import build_index
    from indexer.embedders import EmbedderError
    from indexer.store import IndexError_

    settings = _settings(index_dir)
    paths = paths or [settings.corpus_dir]
    for path in paths:
        if not path.exists():
            _fail(f"{path}: no such file or folder")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            report = build_index(paths, settings, progress=_RichProgress(progress))
    except (IndexError_, EmbedderError) as exc:
        _fail(str(exc))
    state = f"written to {report.index_path}" if report.written else f"unchanged ({report.index_path})"
    console.print(
        f"{report.documents} documents, {report.chunks} chunks; embedded {report.embedded_chunks} new chunks "
        f"in {report.seconds:.1f}s; index {state}",
        highlight=False,
    )
    if report.failed:
        console.print(f"[red]{len(report.failed)} file(s) could not be indexed (see above); the rest were.[/red]")
        raise typer.Exit(1)
    console.print('Search it: povqa search "your question"', highlight=False)


def _load_retriever(settings: Settings):
    from assistant.retrieval import Retriever
    from indexer.embedders import EmbedderError
    from indexer.store import IndexError_

    try:
        return Retriever.load(settings)
    except (IndexError_, EmbedderError) as exc:
        _fail(str(exc))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=100, help="Number of results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: {\"results\": [...]}.")] = False,
    index_dir: IndexDir = None,
) -> None:
    """Search the index; prints the best passages with document, page and score."""
    settings = _settings(index_dir)
    retriever = _load_retriever(settings)
    results = [hit.result() for hit in retriever.search(query, k)]
    if as_json:
        sys.stdout.write(json.dumps({"results": [r.model_dump() for r in results]}, ensure_ascii=False, indent=2) + "\n")
        return
    out = Console()
    if not results:
        out.print("No results (is the index empty?).")
    for i, r in enumerate(results, 1):
        out.print(f"[bold]{i}. {r.title}[/bold] — {r.source}, p. {r.page}  (score {r.score:.3f})", highlight=False)
        if r.section:
            out.print(f"   § {r.section}", highlight=False)
        snippet = " ".join(r.text.split())
        out.print(f"   {snippet[:400]}{'…' if len(snippet) > 400 else ''}\n", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question, in any language.")],
    mode: Annotated[str, typer.Option("--mode", help="answer | briefing")] = "answer",
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", min=1, max=50, help="Passages to use.")] = None,
    index_dir: IndexDir = None,
) -> None:
    """Answer a question with cited sentences (document, page, quote), or say the documents don't answer."""
    from assistant.pipeline import Assistant
    from indexer.embedders import EmbedderError
    from indexer.store import IndexError_

    if mode not in ("answer", "briefing"):
        raise typer.BadParameter("--mode must be 'answer' or 'briefing'")
    settings = _settings(index_dir)
    try:
        assistant = Assistant.load(settings)
        answer = assistant.ask(question, mode=mode, top_k=k)
    except (IndexError_, EmbedderError) as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    out = Console()
    style = "yellow" if answer.refused else "bold"
    out.print(f"[{style}]{answer.answer}[/{style}]", highlight=False)
    if answer.citations:
        out.print("\nSources:", highlight=False)
        for c in answer.citations:
            out.print(f"[{c.n}] {c.title} ({c.source}), p. {c.page}: \u201c{c.quote}\u201d", highlight=False)
    elif answer.refused and answer.passages:
        out.print("\nClosest passages found (not enough to answer):", highlight=False)
        for r in answer.passages[:3]:
            out.print(f"- {r.title}, p. {r.page}", highlight=False)


@app.command()
def calibrate(
    dataset: Annotated[Path, typer.Argument(help="Development set (JSONL).")] = Path("eval/dev.jsonl"),
    write: Annotated[bool, typer.Option("--write", help="Save the fitted refusal model.")] = False,
    max_false_refusals: Annotated[float, typer.Option(
        "--max-false-refusals", min=0.0, max=1.0,
        help="Highest cross-validated share of answerable questions the threshold may refuse.")] = 0.05,
    index_dir: IndexDir = None,
) -> None:
    """Fit the refusal threshold on a development set; prints cross-validated refusal precision/recall."""
    from assistant.pipeline import CALIBRATION_FILE, Assistant
    from eval.calibrate import calibrate as fit

    settings = _settings(index_dir)
    result = fit(dataset, Assistant.load(settings), max_false_refusals=max_false_refusals)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    if write:
        CALIBRATION_FILE.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
        console.print(f"written to {CALIBRATION_FILE}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    index_dir: IndexDir = None,
) -> None:
    """Serve the HTTP API, the OpenAI-compatible /v1 routes and the chat page (http://HOST:PORT/)."""
    import uvicorn

    from assistant.api import create_app, warn_if_exposed

    settings = _settings(index_dir)
    logging.getLogger("povqa").setLevel(logging.INFO)
    warn_if_exposed(settings, host)
    console.print(f"povqa: chat page at http://{host}:{port}/  (API docs: /docs)", highlight=False, soft_wrap=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command(name="eval")
def eval_(
    args: Annotated[list[str], typer.Argument(
        help="DATASET.jsonl, or 'xquad' for the XQuAD retrieval benchmark (then any further words are languages).",
        metavar="DATASET.jsonl | xquad")],
    url: Annotated[Optional[str], typer.Option("--url", help="Ask a running server (http://host:port) instead of in-process.")] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", help="Bearer key for --url.")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write report.json, report.md and plots here.")] = None,
    compare: Annotated[Optional[list[Path]], typer.Option(
        "--compare", help="Configs (JSON Settings overrides) to run side by side: --compare configs/dense.json configs/hybrid.json")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="xquad: folder holding xquad.<lang>.json.")] = None,
    langs: Annotated[Optional[list[str]], typer.Option("--langs", help="xquad: languages (e.g. --langs en es zh).")] = None,
    index_dir: IndexDir = None,
) -> None:
    """Score the assistant on a question set: retrieval, citations, key facts, refusals, latency (see README)."""
    from eval.harness import DatasetError, evaluate, run_xquad
    from eval.report import console_summary

    first, extra = args[0], args[1:]
    if first == "xquad":
        chosen = [l for item in (langs or []) + extra for l in item.split(",") if l]
        result = run_xquad(data, chosen or None, report, log=lambda m: console.print(m, highlight=False))
        sys.stdout.write(result["table"])
        if report:
            console.print(f"report: {report / 'xquad.md'}", highlight=False)
        return
    configs = list(compare or [])
    if extra:
        if not configs:
            _fail(f"unexpected argument(s) {' '.join(extra)}: give one dataset (configs go after --compare)")
        configs += [Path(e) for e in extra]
    settings = None if url or configs else _settings(index_dir)
    if configs and index_dir is not None:
        _fail("--index-dir does not apply with --compare: put index_dir in the config files")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[errors]} errors"),
               TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            def bar(total: int, name: str):
                task = progress.add_task(name, total=total, errors=0)
                errors = 0

                def advance(row: dict) -> None:
                    nonlocal errors
                    errors += row.get("error") is not None
                    progress.update(task, advance=1, errors=errors)
                return advance

            result = evaluate(Path(first), url=url, api_key=api_key, configs=configs or None, report_dir=report,
                              progress=bar, log=lambda m: progress.console.print(m, highlight=False), settings=settings)
    except DatasetError as exc:
        _fail(str(exc))
    except Exception as exc:  # the index or a backend could not be loaded
        _fail(f"{type(exc).__name__}: {exc}")
    sys.stdout.write(console_summary(result) + "\n")
    if report:
        console.print(f"report: {report / 'report.md'} (rows in {report / 'report.json'})", highlight=False)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
