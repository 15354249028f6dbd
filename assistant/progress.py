"""`povqa index`'s display: one progress bar over the whole run, in pages, with pages/s and an ETA, and a line
per file as it is done (indexer/report.py's hooks, drawn with rich)."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from indexer.report import BuildProgress, FileReport

COLOURS = {"failed": "red", "skipped": "yellow", "duplicate": "yellow", "removed": "cyan"}


class PagesPerSecond(ProgressColumn):
    """Pages done per second since the run began."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.2f} pages/s", style="progress.data.speed")


class PagesDone(ProgressColumn):
    """Pages done of the run's pages (the total is an estimate while files are still being read)."""

    def render(self, task: Task) -> Text:
        total = f"{task.total:.0f}" if task.total is not None else "?"
        return Text(f"{task.completed:.0f}/{total} pages", style="progress.download")


def columns() -> tuple[ProgressColumn, ...]:
    return (TextColumn("{task.description}"), BarColumn(), PagesDone(), PagesPerSecond(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn())


class RichBuildProgress(BuildProgress):
    """The whole run as one task of `progress` (a rich Progress made with `columns()`)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = None

    def start(self, total: float) -> None:
        if self.task is None:
            self.task = self.progress.add_task("indexing", total=total)
        else:
            self.progress.update(self.task, total=total)

    def advance(self, pages: float) -> None:
        if self.task is not None:
            self.progress.advance(self.task, pages)

    def stage(self, description: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=description)

    def file_done(self, report: FileReport) -> None:
        colour = COLOURS.get(report.status, "green")
        self.progress.console.print(f"[{colour}]{report.line()}[/{colour}]", highlight=False, markup=True)
