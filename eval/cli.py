"""`povqa eval` and `povqa calibrate`: the evaluation commands, added to the `povqa` CLI from outside.

The product (`assistant/`) never imports `eval`: `assistant/cli.py` loads the commands registered in the
entry-point group ``povqa.commands`` (pyproject.toml: ``eval = "eval.cli:register"``) and calls each with its
Typer app. The shell's helpers (settings from the environment, error exit, stderr console) are imported when a
command runs, so importing this module never imports the CLI (and the CLI can import this module).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

# The same option as the other povqa commands' (assistant/cli.py).
IndexDir = Annotated[Optional[Path], typer.Option("--index-dir", help="Index folder (default: POVQA_INDEX_DIR or .povqa/index).")]


def register(app: typer.Typer) -> None:
    """Add `calibrate` and `eval` to `app` (the entry point of group ``povqa.commands``)."""
    app.command(name="calibrate")(calibrate)
    app.command(name="eval")(eval_)


def calibrate(
    dataset: Annotated[Path, typer.Argument(help="Development set (JSONL).")] = Path("eval/dev.jsonl"),
    write: Annotated[bool, typer.Option("--write", help="Save the fitted refusal model.")] = False,
    max_false_refusals: Annotated[float, typer.Option(
        "--max-false-refusals", min=0.0, max=1.0,
        help="Highest cross-validated share of answerable questions the threshold may refuse.")] = 0.05,
    index_dir: IndexDir = None,
) -> None:
    """Fit the refusal threshold on a development set; prints cross-validated refusal precision/recall."""
    from assistant.cli import _settings, console
    from assistant.pipeline import Assistant
    from assistant.refusal import calibration_path
    from eval.calibrate import calibrate as fit

    settings = _settings(index_dir)
    result = fit(dataset, Assistant.load(settings), max_false_refusals=max_false_refusals)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    if write:  # where the settings keep the refusal model: POVQA_REFUSAL__CALIBRATION_FILE, or the shipped file
        target = calibration_path(settings)
        target.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
        console.print(f"written to {target}")


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
    answer: Annotated[bool, typer.Option("--answer", help=(
        "xquad: the answering task (a fifth of the paragraphs left out; cited spans and refusals per language) "
        "instead of retrieval."))] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="xquad --answer: a seeded sample of N questions per language.")] = None,
    articles: Annotated[str, typer.Option("--articles", help=(
        "xquad --answer: all, even or odd (only the questions of odd-numbered articles: those the refusal model "
        "was not fitted on)."))] = "all",
    index_dir: IndexDir = None,
) -> None:
    """Score the assistant on a question set: retrieval, citations, key facts, refusals, latency (see README)."""
    from assistant.cli import _fail, console
    from eval.report import console_summary

    first, extra = args[0], args[1:]
    if first == "xquad":
        if answer:
            _xquad_answer(extra, data, langs, report, limit, url, api_key, articles, console)
        else:
            _xquad(extra, data, langs, report, console)
        return
    configs = list(compare or [])
    if extra:
        if not configs:
            _fail(f"unexpected argument(s) {' '.join(extra)}: give one dataset (configs go after --compare)")
        configs += [Path(e) for e in extra]
    result = _evaluate(Path(first), url, api_key, report, configs, index_dir, console)
    sys.stdout.write(console_summary(result) + "\n")
    if report:
        console.print(f"report: {report / 'report.md'} (rows in {report / 'report.json'})", highlight=False)


def _xquad(extra: list[str], data: Path | None, langs: list[str] | None, report: Path | None, console) -> None:
    """`povqa eval xquad [LANG ...]`: the XQuAD retrieval table on stdout."""
    from eval.harness import run_xquad

    chosen = [l for item in (langs or []) + extra for l in item.split(",") if l]
    result = run_xquad(data, chosen or None, report, log=lambda m: console.print(m, highlight=False))
    sys.stdout.write(result["table"])
    if report:
        console.print(f"report: {report / 'xquad.md'}", highlight=False)


def _xquad_answer(extra: list[str], data: Path | None, langs: list[str] | None, report: Path | None,
                  limit: int | None, url: str | None, api_key: str | None, articles: str, console) -> None:
    """`povqa eval xquad --answer [LANG ...]`: the XQuAD answering table on stdout (eval/xquad_answer.py)."""
    from eval import xquad_answer

    chosen = [l for item in (langs or []) + extra for l in item.split(",") if l]
    outcome = xquad_answer.run(data or xquad_answer.DEFAULT_DATA, chosen or None, report or xquad_answer.DEFAULT_OUT,
                               limit, url, api_key, log=lambda m: console.print(m, highlight=False), articles=articles)
    sys.stdout.write(xquad_answer.markdown_table(outcome["results"]))


def _evaluate(dataset: Path, url: str | None, api_key: str | None, report: Path | None, configs: list[Path],
              index_dir: Path | None, console) -> dict:
    """Run the harness with a progress bar per configuration; a bad dataset or backend exits with code 2."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from assistant.cli import _fail, _settings
    from eval.harness import DatasetError, evaluate

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

            return evaluate(dataset, url=url, api_key=api_key, configs=configs or None, report_dir=report,
                            progress=bar, log=lambda m: progress.console.print(m, highlight=False), settings=settings)
    except DatasetError as exc:
        _fail(str(exc))
    except Exception as exc:  # the index or a backend could not be loaded
        _fail(f"{type(exc).__name__}: {exc}")
