"""Document formats and OCR: `python -m bench.formats [--xquad DIR] [--big-mb 200]`.

OCR quality and speed on pages made from the real corpus (tests/formats_fixtures.py): word recall of a clean
300-dpi scan (an image-only PDF), of a skewed (2°) 200-dpi grey scan of the same page (JPEG), character recall
of a Chinese page (the UNDP-CAITEC note's annex), and word recall of Spanish and Arabic pages (XQuAD
paragraphs, when ../shared/bench/xquad is there), each read through `load_document` (OCR, then the PDF
cleaning). Seconds per page: one page at a time (one core), and a 4-page scanned PDF on all the cores this
process may use. Then memory: `load_document` in a child process on a spreadsheet of about `--big-mb` MB (its
declared XML size refuses it before parsing), the same as CSV and a 30 MB workbook (both streamed until the
cell-text limit refuses them), and a 5 MB workbook it reads whole; the peak resident memory (VmHWM) of each
child is the bound. Writes the `formats` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import ROOT, load, machine_md, write_section
from tests import formats_fixtures as fx

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"


def ocr_rows(work: Path, xquad: Path) -> list[dict]:
    from indexer.loaders import load_document
    from indexer.ocr import get_ocr_engine

    engine = get_ocr_engine()
    if engine is None:
        raise SystemExit("no OCR engine: make install (tesseract-ocr)")
    pages: list[tuple[str, str, Path, str, str]] = []  # name, what, file, truth, measure
    image, truth = fx.english_page("Background")
    pages.append(("clean scan (en)", "image-only PDF, 300 dpi", fx.write_image_pdf(work / "clean.pdf", [image]),
                  truth, "words"))
    fx.degrade(image).save(work / "grey.jpg", quality=80, dpi=(200, 200))
    pages.append(("skewed grey scan (en)", "JPEG, 200 dpi, grey, 2° skew, noise", work / "grey.jpg", truth, "words"))
    if fx.has_font("Noto Sans CJK SC:lang=zh-cn"):
        image, truth = fx.chinese_page()
        image.save(work / "zh.png", dpi=(300, 300))
        pages.append(("Chinese page (zh)", "PNG, 300 dpi, CAITEC annex", work / "zh.png", truth, "characters"))
    for lang, font in (("es", "DejaVu Serif"), ("ar", "DejaVu Sans:lang=ar")):
        source = xquad / f"xquad.{lang}.json"
        if source.exists():
            data = json.loads(source.read_text("utf-8"))["data"]
            paragraphs = [p["context"].lstrip("\ufeff") for a in data[:2] for p in a["paragraphs"][:2]]
            image, truth = fx.render_page(paragraphs, font=font)
            image.save(work / f"{lang}.png", dpi=(300, 300))
            pages.append((f"XQuAD page ({lang})", "PNG, 300 dpi", work / f"{lang}.png", truth, "words"))
    rows = []
    for name, what, path, truth, measure in pages:
        started = time.perf_counter()
        doc = load_document(path)
        seconds = time.perf_counter() - started
        text = "\n".join(doc.pages)
        recall = fx.cjk_recall(truth, text) if measure == "characters" else fx.word_recall(truth, text)
        rows.append({"name": name, "what": what, "measure": measure, "recall": recall, "seconds": seconds,
                     "engine": doc.ocr, "language": doc.language})
        print(f"{name}: {measure} recall {recall:.3f}, {seconds:.1f} s, language {doc.language}", flush=True)
    images = [fx.english_page(h)[0] for h in ("Background", "Analysis of Initiatives", "Findings", "Methodology")]
    pdf = fx.write_image_pdf(work / "four.pdf", images)
    started = time.perf_counter()
    doc = load_document(pdf)
    seconds = time.perf_counter() - started
    rows.append({"name": "4-page scanned PDF", "what": f"all cores ({_cores()})", "measure": "", "recall": None,
                 "seconds": seconds, "pages": doc.page_count, "engine": doc.ocr, "language": doc.language})
    print(f"4 pages on {_cores()} cores: {seconds:.1f} s", flush=True)
    return rows


def _cores() -> int:
    from indexer.ocr import available_cores

    return available_cores()


# ------------------------------------------------------------------------------------------------- spreadsheets

def write_big_xlsx(path: Path, target_mb: float, columns: int = 8, seed: int = 5) -> Path:
    """A real-looking .xlsx of about `target_mb` MB: a header row, then rows of a country name, a year and
    random figures, written as sheet XML straight into the zip (openpyxl would take minutes)."""
    rng = random.Random(seed)
    countries = ["Kenya", "Bangladesh", "Brazil", "China", "Senegal", "Peru", "Nepal", "Ghana", "Laos", "Chad"]
    header = ["Country", "Year"] + [f"Indicator {i}" for i in range(1, columns - 1)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in fx.XLSX_SKELETON.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                    b'spreadsheetml/2006/main"><dimension ref="A1:H1"/><sheetData>')
            cells = "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in header)
            f.write(f'<row r="1">{cells}</row>'.encode())
            row = 1
            while path.stat().st_size < target_mb * 1e6:
                chunk = []
                for _ in range(5000):
                    row += 1
                    values = "".join(f"<c><v>{rng.random() * 1000:.4f}</v></c>" for _ in range(columns - 2))
                    chunk.append(f'<row r="{row}"><c t="inlineStr"><is><t>{rng.choice(countries)}</t></is></c>'
                                 f'<c><v>{1990 + row % 35}</v></c>{values}</row>')
                f.write("".join(chunk).encode())
            f.write(b"</sheetData></worksheet>")
    return path


_CHILD = """
import sys, time
from pathlib import Path
from indexer.loaders import IngestError, load_document
started = time.perf_counter()
try:
    doc = load_document(Path(sys.argv[1]))
    outcome = f"indexed: {doc.page_count:,} row ranges, {len(doc.blocks):,} rows"
except IngestError as exc:
    outcome = f"refused: {exc.reason}"
peak = next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(round(time.perf_counter() - started, 1), peak, outcome)
"""


def measure_child(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.strip().splitlines()[-1]
    seconds, peak, outcome = out.split(" ", 2)
    return {"file": path.name, "mb": path.stat().st_size / 1e6, "seconds": float(seconds), "peak_mb": int(peak),
            "outcome": outcome}


def sheet_rows(work: Path, big_mb: float) -> list[dict]:
    rows = []
    started = time.perf_counter()
    big = write_big_xlsx(work / f"indicators {big_mb:g} MB.xlsx", big_mb)
    print(f"wrote {big.name} ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s", flush=True)
    rows.append(measure_child(big))
    big_csv = work / f"indicators {big_mb:g} MB.csv"
    line = "Kenya,2004,312.5521,18.2201,990.1234,45.6789,101.0101,77.7777\n"
    with open(big_csv, "w") as f:
        f.write("Country,Year,Indicator 1,Indicator 2,Indicator 3,Indicator 4,Indicator 5,Indicator 6\n")
        f.write(line * int(big_mb * 1e6 / len(line)))
    rows.append(measure_child(big_csv))
    rows.append(measure_child(write_big_xlsx(work / "indicators 30 MB.xlsx", 30)))  # refused while streaming
    rows.append(measure_child(write_big_xlsx(work / "indicators 5 MB.xlsx", 5)))  # read whole
    for row in rows:
        print(row, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------- report

def report(ocr: list[dict], sheets: list[dict], command: str, load_start: str) -> str:
    engine = next((r["engine"] for r in ocr if r["engine"]), "none")
    lines = ["## Document formats and OCR", "", f"`{command}`", "", machine_md(load_start, load()), "",
             f"OCR engine: {engine} (Debian's tesseract-ocr with its language packs), one process per page with "
             "OMP_THREAD_LIMIT=1, pages spread over the cores; the page's script (tesseract's OSD on the first "
             "page) picks the packs. Recall: the share of the source text's words (characters for Chinese) found "
             "in the indexed page text after OCR and the PDF cleaning; seconds include rendering, script "
             "detection and cleaning.", "",
             "| page | file | recall | seconds | language found |", "|---|---|---:|---:|---|"]
    for r in ocr:
        if r["recall"] is not None:
            lines.append(f"| {r['name']} | {r['what']} | {r['measure']} {r['recall']:.1%} | {r['seconds']:.1f} | "
                         f"{r['language']} |")
    for r in ocr:
        if r["recall"] is None:
            lines += ["", f"{r['name']} ({r['what']}): {r['seconds']:.1f} s, "
                          f"**{r['seconds'] / r['pages']:.1f} s per page**."]
    lines += ["", "Large spreadsheets, `load_document` alone in a child process (peak resident memory = the child's VmHWM; ru_maxrss would count the parent's pages it was forked with):", "",
              "| file | size | seconds | peak memory | outcome |", "|---|---:|---:|---:|---|"]
    for r in sheets:
        lines.append(f"| {r['file']} | {r['mb']:.0f} MB | {r['seconds']:.1f} | {r['peak_mb']} MB | {r['outcome']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xquad", type=Path, default=XQUAD)
    parser.add_argument("--big-mb", type=float, default=200)
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/RESULTS.md")
    args = parser.parse_args()
    load_start = load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ocr = ocr_rows(work, args.xquad)
        sheets = sheet_rows(work, args.big_mb)
    command = "python -m bench.formats" + (f" --big-mb {args.big_mb:g}" if args.big_mb != 200 else "")
    body = report(ocr, sheets, command, load_start)
    print(body)
    if not args.no_write:
        write_section("formats", body)


if __name__ == "__main__":
    main()
