"""The corpus folder as the server and `povqa index --collection` change it: safe file names, collection folders,
files written atomically, placed without overwriting, and removed.

Layout: `<corpus>/<file>` for the collection 'default', `<corpus>/<collection>/<file>` for the others (the first
folder names the collection: `indexer.types.collection_of`), so `povqa index <corpus>` reproduces the collections.
Uploads are staged in `<corpus>/.uploads/<job id>/` first: a folder whose name starts with a dot is never indexed,
and a file is only ever renamed into place whole (written to a temporary name, flushed, then renamed), so a
server killed mid-upload leaves no half file where the index would read it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import unicodedata
import uuid
from pathlib import Path
from typing import BinaryIO

from indexer.loaders import SUPPORTED_SUFFIXES
from indexer.store import fsync_dir
from indexer.types import DEFAULT_COLLECTION

UPLOADS = ".uploads"
MAX_NAME_BYTES = 150  # a file name, in UTF-8 (file systems allow 255; the collection folder and suffixes need room)
MAX_COLLECTION_CHARS = 64
#: Names Windows reserves for devices, with any suffix ("CON.pdf"): a corpus folder may be copied there.
RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
            *(f"{p}{i}" for p in ("COM", "LPT") for i in "123456789¹²³")}
_UNSAFE = re.compile(r'[<>:"|?*/\\]')
_COLLECTION = re.compile(r"[^\W_][\w .-]*", re.UNICODE)


class BadName(ValueError):
    """A collection name that cannot be a folder of the corpus; the message says what is allowed."""


def _printable(text: str) -> str:
    """Without control, format (bidi overrides, zero-width), surrogate, private-use or unassigned characters."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def safe_name(filename: str | None) -> str:
    """A file name the corpus can hold, from whatever the client sent: its last path part only ('../../etc/passwd'
    -> 'passwd'), NFC, no control or bidi characters, none of <>:"|?* , no leading dots (hidden: never indexed) or
    trailing dots and spaces, not a Windows device name ('CON.pdf' -> '_CON.pdf'), at most MAX_NAME_BYTES."""
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", filename or ""))[-1]
    name = " ".join(_UNSAFE.sub("_", _printable(name)).split()).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem.strip(" .") or "upload"
    if stem.split(".")[0].upper() in RESERVED:
        stem = "_" + stem
    suffix = f".{suffix}" if suffix else ""
    while len((stem + suffix).encode()) > MAX_NAME_BYTES and len(stem) > 1:
        stem = stem[:-1].rstrip(" .")
    return stem + suffix[:MAX_NAME_BYTES // 2]


def supported(name: str) -> str | None:
    """None when povqa reads files named `name`, else why not (one line)."""
    suffix = Path(name).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    return (f"unsupported file type {suffix or '(none)'!r}; povqa reads {', '.join(sorted(SUPPORTED_SUFFIXES))}")


def check_collection(name: str | None) -> str:
    """The collection `name` names (None or '' -> 'default'), or BadName saying what a name may hold."""
    if name is None or not name.strip():
        return DEFAULT_COLLECTION
    name = unicodedata.normalize("NFC", name.strip())
    if (len(name) > MAX_COLLECTION_CHARS or not _COLLECTION.fullmatch(name) or name.endswith((".", " "))
            or name.split(".")[0].upper() in RESERVED):
        raise BadName(f"collection {name[:80]!r} is not a valid name: use up to {MAX_COLLECTION_CHARS} letters, "
                      "digits, spaces, '-', '_' and '.', starting with a letter or digit (e.g. 'country-reports')")
    return name


def collection_dir(corpus: Path, collection: str) -> Path:
    """Where the files of `collection` live: the corpus folder itself for 'default', else its subfolder."""
    return Path(corpus) if collection == DEFAULT_COLLECTION else Path(corpus) / collection


def write_whole(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy `source` to `target` through a temporary file beside it (flushed, then renamed): `target` is either
    absent or complete. Returns (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    temporary = target.with_name(f".part-{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "wb") as out:
            while block := source.read(1 << 20):
                digest.update(block)
                size += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return digest.hexdigest(), size


def same_file(path: Path, sha256: str) -> bool:
    from indexer.loaders import file_sha256

    try:
        return file_sha256(path) == sha256
    except OSError:
        return False


def place(staged: Path, folder: Path, name: str, sha256: str) -> tuple[Path, bool]:
    """Move `staged` into `folder` as `name`, never over another file: a different file of that name makes it
    'name (2).pdf', 'name (3).pdf', ...; the same content already there is kept (and `staged` dropped). Returns
    (its path, whether it was new)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        candidate = folder / (name if n == 1 else f"{stem} ({n}){suffix}")
        if candidate.exists():
            if same_file(candidate, sha256):
                staged.unlink(missing_ok=True)
                return candidate, False
            continue
        try:
            os.link(staged, candidate)  # fails if the name was taken meanwhile: nothing is ever overwritten
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if candidate.exists():
                continue
            os.rename(staged, candidate)
        staged.unlink(missing_ok=True)
        fsync_dir(folder)
        return candidate, True
    raise FileExistsError(f"{folder}: too many files named like {name!r}")


def staging(corpus: Path, job_id: str) -> Path:
    """The hidden folder an upload's (or a deletion's) files wait in."""
    return Path(corpus) / UPLOADS / job_id


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def add_files(paths: list[Path], corpus: Path, collection: str) -> list[tuple[Path, Path | None, str]]:
    """`povqa index --collection`: copy files (the files of folders too, keeping their subfolders) into the
    collection's folder, as the server stores uploads. Returns (file, its path in the corpus or None, what
    happened: 'copied', 'present' (already there, or the same content under that name), or 'skipped: <why>')."""
    target_root = collection_dir(corpus, collection).resolve()
    out: list[tuple[Path, Path | None, str]] = []
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            rel = path.relative_to(root) if root.is_dir() else Path(path.name)
            why = supported(path.name)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if why:
                out.append((path, None, f"skipped: {why}"))
            elif path.resolve().is_relative_to(target_root):
                out.append((path, path, "present"))
            else:
                placed, new = _copy_in(path, corpus, target_root.joinpath(*(safe_name(p) for p in rel.parts[:-1])))
                out.append((path, placed, "copied" if new else "present"))
    return out


def _copy_in(path: Path, corpus: Path, folder: Path) -> tuple[Path, bool]:
    stage = staging(corpus, "cli-" + uuid.uuid4().hex[:8])
    stage.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "rb") as handle:
            sha, _ = write_whole(handle, stage / "file")
        return place(stage / "file", folder, safe_name(path.name), sha)
    finally:
        remove_tree(stage)
        if not any(stage.parent.iterdir()):
            stage.parent.rmdir()
