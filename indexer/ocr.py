"""OCR: the text of page images (scanned PDFs, photos of pages), offline, on the CPU.

Engines have one abstract method, `recognise` (one page image in, its text out), and are registered by name
like the embedders; `get_ocr_engine()` returns the first one installed, or None, and then a scanned file gets
the one line `NEEDS_OCR` says. The engine's name, version and languages go into the index manifest and into
each document it read, so an index built without OCR is not silently mixed with one built with it.

Tesseract (Debian's `tesseract-ocr` with its language packs) is the engine: a program, run once per page with
OpenMP held to one thread and pages spread over the cores this process may use. Tesseract's own threads make it
several times slower on a busy two-core machine (7 s against 38 s a page measured here). The script of a
file's first scanned page (tesseract's orientation-and-script detection) picks the language packs for the whole
file; page segmentation mode 1 turns pages that lie on their side.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from indexer.blas import available_cores

if TYPE_CHECKING:  # Pillow is imported only when a page is read
    from PIL.Image import Image

log = logging.getLogger(__name__)

#: The Debian packages of the engine and of the language packs povqa's users need.
TESSERACT_PACKAGES = ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-chi-sim", "tesseract-ocr-fra",
                      "tesseract-ocr-spa", "tesseract-ocr-por", "tesseract-ocr-ara", "tesseract-ocr-swa",
                      "tesseract-ocr-ben")
NEEDS_OCR = f"needs OCR: install tesseract-ocr (apt-get install {' '.join(TESSERACT_PACKAGES)})"

#: The language packs to read a page with, by the script tesseract's OSD finds on it. Latin-script pages get
#: English, French, Spanish, Portuguese and Swahili together (the same recall on the English test pages as
#: English alone, at most ~15% slower); Han gets Simplified Chinese alone (98% of the characters of the test
#: scan, 96% with English added); Arabic and Bengali their own pack with English for the Latin words.
SCRIPT_LANGUAGES = {
    "Latin": ("eng", "fra", "spa", "por", "swa"),
    "Han": ("chi_sim",),
    "Arabic": ("ara", "eng"),
    "Bengali": ("ben", "eng"),
}
DEFAULT_SCRIPT = "Latin"

#: Seconds one page may take before it is given up (left empty, with a warning).
PAGE_TIMEOUT = 180


class OcrEngine(ABC):
    """Reads the text of page images. Subclasses implement `recognise` only."""

    #: Recorded in the manifest and in each document it read.
    name: str
    version: str = ""
    #: The engine's codes of the languages it has installed.
    languages: tuple[str, ...] = ()

    @abstractmethod
    def recognise(self, image: Image, dpi: int | None = None, languages: tuple[str, ...] | None = None) -> str:
        """The text of one page image: its lines in reading order, blocks separated by blank lines."""

    def choose_languages(self, image: Image, dpi: int | None = None) -> tuple[str, ...] | None:
        """The languages to read a whole file with, from its first page image; None: the engine's default."""
        return None

    @property
    def label(self) -> str:
        """'tesseract 5.3.0': what a document records as the engine that read it."""
        return f"{self.name} {self.version}".strip()

    def describe(self) -> dict[str, Any]:
        """What the index manifest records."""
        return {"name": self.name, "version": self.version, "languages": list(self.languages)}

    def read_pages(self, pages: Iterable[tuple[Image, int | None]], workers: int | None = None) -> Iterator[str]:
        """The texts of `pages` ((image, dpi) pairs, read lazily), in order, `workers` at a time (default: the
        cores this process may use). At most `workers` + 1 images are held at once; the first picks the
        languages. A page that fails is left empty with a warning: one bad page does not lose the file."""
        workers = workers or available_cores()
        it = iter(pages)
        first = next(it, None)
        if first is None:
            return
        languages = self.choose_languages(*first)
        in_flight: deque[Future] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
            for image, dpi in _chain(first, it):
                in_flight.append(pool.submit(self._page, image, dpi, languages))
                if len(in_flight) > workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()

    def _page(self, image: Image, dpi: int | None, languages: tuple[str, ...] | None) -> str:
        try:
            return self.recognise(image, dpi, languages)
        except OcrError as exc:
            log.warning("OCR of a page failed (%s); page left empty", exc)
            return ""


class OcrError(RuntimeError):
    """The engine could not read a page; the message says why."""


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


# ------------------------------------------------------------------------------------------------- tesseract

class TesseractEngine(OcrEngine):
    """Debian's `tesseract` program, one process per page (the image goes in on stdin as PGM)."""

    name = "tesseract"

    def __init__(self, program: str = "tesseract"):
        self.program = program
        self.version = _tesseract_version(program)
        self.languages = _tesseract_languages(program)
        if not self.languages:
            raise OcrError("tesseract has no language packs: install tesseract-ocr-eng")
        self.osd = "osd" in self.languages
        self.languages = tuple(lang for lang in self.languages if lang != "osd")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scripts": {k: self._installed(v) for k, v in SCRIPT_LANGUAGES.items()}}

    def recognise(self, image: Image, dpi: int | None = None, languages: tuple[str, ...] | None = None) -> str:
        langs = self._installed(languages or SCRIPT_LANGUAGES[DEFAULT_SCRIPT])
        args = ["-l", "+".join(langs), "--psm", "1" if self.osd else "3"]
        return self._run(image, dpi, args)

    def choose_languages(self, image: Image, dpi: int | None = None) -> tuple[str, ...] | None:
        """The language packs for the script tesseract's OSD sees on the page (Latin when it cannot tell)."""
        script = DEFAULT_SCRIPT
        if self.osd:
            try:
                found = re.search(r"^Script: (\w+)", self._run(image, dpi, ["--psm", "0"]), re.MULTILINE)
            except OcrError as exc:  # "Too few characters": a near-empty page says nothing of its script
                log.debug("OSD gave no script (%s)", exc)
                found = None
            if found and found.group(1) in SCRIPT_LANGUAGES:
                script = found.group(1)
            elif found:
                log.warning("no tesseract language pack for %s script; reading it as %s", found.group(1), script)
        return self._installed(SCRIPT_LANGUAGES[script])

    def _installed(self, wanted: Iterable[str]) -> tuple[str, ...]:
        have = tuple(lang for lang in wanted if lang in self.languages)
        return have or (("eng",) if "eng" in self.languages else self.languages[:1])

    def _run(self, image: Image, dpi: int | None, args: list[str]) -> str:
        data = _pgm(image)
        command = [self.program, "stdin", "stdout", *args]
        if dpi:
            command += ["--dpi", str(int(dpi))]
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            proc = subprocess.run(command, input=data, capture_output=True, timeout=PAGE_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            raise OcrError(f"tesseract took more than {PAGE_TIMEOUT} s on the page") from None
        except OSError as exc:
            raise OcrError(f"cannot run tesseract ({exc.strerror or exc})") from None
        if proc.returncode != 0:
            message = " ".join(proc.stderr.decode("utf-8", "replace").split())[-200:]
            raise OcrError(f"tesseract failed: {message or f'exit code {proc.returncode}'}")
        return proc.stdout.decode("utf-8", "replace")


def _pgm(image: Image) -> bytes:
    """The image as 8-bit grey PGM bytes (no compression: fastest to write and for tesseract to read)."""
    import io

    grey = image if image.mode == "L" else image.convert("L")
    buffer = io.BytesIO()
    grey.save(buffer, format="PPM")
    return buffer.getvalue()


def _tesseract_version(program: str) -> str:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrError(f"cannot run {program} ({exc})") from None
    found = re.search(r"tesseract v?(\d[\w.\-]*)", out.stdout + out.stderr)
    return found.group(1) if found else "unknown"


def _tesseract_languages(program: str) -> tuple[str, ...]:
    try:
        out = subprocess.run([program, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrError(f"cannot run {program} ({exc})") from None
    lines = (out.stdout + out.stderr).splitlines()
    return tuple(sorted(ln.strip() for ln in lines if ln.strip() and not ln.startswith("List of")))


def _tesseract_factory() -> OcrEngine | None:
    program = shutil.which("tesseract")
    return TesseractEngine(program) if program else None


# -------------------------------------------------------------------------------------------------- registry

#: A factory returns the engine, or None when it is not installed on this machine.
OcrFactory = Callable[[], "OcrEngine | None"]
_REGISTRY: dict[str, OcrFactory] = {}
_lock = threading.Lock()


def register_ocr_engine(name: str, factory: OcrFactory) -> None:
    """Register an engine; `get_ocr_engine()` tries them in the order they were registered."""
    with _lock:
        _REGISTRY[name] = factory
    if "get_ocr_engine" in globals():
        get_ocr_engine.cache_clear()


register_ocr_engine("tesseract", _tesseract_factory)


@lru_cache(maxsize=None)
def get_ocr_engine(name: str | None = None) -> OcrEngine | None:
    """The engine called `name`, or the first registered one that is installed; None when there is none."""
    with _lock:
        factories = [(n, f) for n, f in _REGISTRY.items() if name in (None, n)]
    for engine_name, factory in factories:
        try:
            engine = factory()
        except OcrError as exc:
            log.warning("OCR engine %s is not usable: %s", engine_name, exc)
            continue
        if engine is not None:
            return engine
    return None


def ocr_manifest(engine: OcrEngine | None) -> dict[str, Any] | None:
    """What the index manifest records of the OCR engine (None: no OCR on this machine)."""
    return engine.describe() if engine else None
