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
from rich.progress import Progress

from assistant.settings import Settings
from assistant.types import place

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


def _os_problem(exc: OSError, done: str, index_dir: Path) -> str:
    """One line for a file-system error on the index (permissions, a read-only or full disk)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return (f"the index at {index_dir} could not be {done}: {exc.strerror or exc}{where}; check the folder's "
            "permissions and free space, or choose another with --index-dir")


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, however narrow
    raise typer.Exit(code)


@app.command()
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders (default: docs_corpus/).")] = None,
    index_dir: IndexDir = None,
    collection: Annotated[Optional[str], typer.Option(
        "--collection", metavar="NAME", help="Add PATHS to the collection NAME: copy them into the corpus folder "
        "(POVQA_CORPUS_DIR/NAME/, as the server stores uploads), then index the whole corpus folder.")] = None,
) -> None:
    """Index PDFs and notes (.md, .txt). Only new or changed files are embedded. A file's collection is the
    first folder below the indexed folder (docs_corpus/reports/a.pdf: 'reports'), 'default' for one directly in it."""
    from indexer.backend import StoreUnavailable
    from indexer.build import build_index
    from indexer.embedders import EmbedderError
    from indexer.store import IndexError_

    settings = _settings(index_dir)
    if collection is not None:
        paths = _add_to_collection(paths or [], collection, settings)
    paths = paths or [settings.corpus_dir]
    for path in paths:
        if not path.exists():
            _fail(f"{path}: no such file or folder")
    from assistant.progress import RichBuildProgress, columns

    try:
        with Progress(*columns(), console=console, transient=False) as progress:
            report = build_index(paths, settings.build_settings(), progress=RichBuildProgress(progress))
    except (IndexError_, EmbedderError, StoreUnavailable) as exc:
        _fail(str(exc))
    except OSError as exc:  # a read-only or full disk, a folder of someone else's: one line, no traceback
        _fail(_os_problem(exc, "written", settings.index_dir))
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


def _add_to_collection(paths: list[Path], collection: str, settings: Settings) -> list[Path]:
    """`povqa index --collection NAME PATH...`: copy the files into the collection's folder of the corpus (safe
    names, never over another file); returns the corpus folder, to index."""
    from assistant.corpus import BadName, add_files, check_collection

    if not paths:
        _fail("--collection needs the files or folders to add: povqa index --collection NAME PATH...")
    try:
        name = check_collection(collection)
    except BadName as exc:
        _fail(str(exc))
    for path in paths:
        if not path.exists():
            _fail(f"{path}: no such file or folder")
    for source, placed, status in add_files(paths, settings.corpus_dir, name):
        word, _, why = status.partition(": ")
        console.print(f"{word:9} {source}" + (f" -> {placed}" if placed else f": {why}"), highlight=False, soft_wrap=True)
    return [settings.corpus_dir]


def _load_retriever(settings: Settings):
    from assistant.retrieval import Retriever
    from indexer.backend import StoreUnavailable
    from indexer.embedders import EmbedderError
    from indexer.store import IndexError_

    try:
        return Retriever.load(settings)
    except (IndexError_, EmbedderError, StoreUnavailable) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(_os_problem(exc, "read", settings.index_dir))


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
        out.print(f"[bold]{i}. {r.title}[/bold] — {r.source}, {place(r.page, r.location)}  (score {r.score:.3f})", highlight=False)
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
            out.print(f"[{c.n}] {c.title} ({c.source}), {place(c.page, c.location)}: \u201c{c.quote}\u201d", highlight=False)
    elif answer.refused and answer.passages:
        out.print("\nClosest passages found (not enough to answer):", highlight=False)
        for r in answer.passages[:3]:
            out.print(f"- {r.title}, {place(r.page, r.location)}", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    index_dir: IndexDir = None,
) -> None:
    """Serve the HTTP API, the OpenAI-compatible /v1 routes and the chat page (http://HOST:PORT/)."""
    from assistant.api import create_app, warn_if_exposed
    from assistant.api.server import serve as run_server

    settings = _settings(index_dir)
    logging.getLogger("povqa").setLevel(logging.INFO)
    warn_if_exposed(settings, host)
    console.print(f"povqa: chat page at http://{host}:{port}/  (API docs: /docs)", highlight=False, soft_wrap=True)
    run_server(create_app(settings, host=host), settings, host, port)


def _register_commands(app: typer.Typer) -> None:
    """Add the commands other packages register in the entry-point group ``povqa.commands`` (each entry point is
    a function taking the Typer app): `povqa eval` and `povqa calibrate` come from `eval.cli:register`, so the
    product never imports `eval`."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="povqa.commands"):
        entry.load()(app)


_register_commands(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
