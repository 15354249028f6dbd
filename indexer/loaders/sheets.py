"""Spreadsheets (.xlsx with openpyxl, .csv and .tsv with the csv module): each row a line of `header: value`
pairs, each sheet a section, and a sheet's rows grouped into pages of at most `UNIT_ROWS` rows and
`UNIT_CHARS` characters, so that a citation names the sheet and the rows it quotes ("Sheet 'Budget', rows 12–18").

Rows are streamed (openpyxl's read-only mode parses a sheet as it goes; csv reads line by line), and a file
whose cell text passes `MAX_TABLE_CHARS` is refused with one line as soon as it does, so memory stays bounded
whatever the file's size. The header is the first row, among the first `HEADER_LOOKAHEAD`, that has two or more
cells and only text in them; rows above it (a title, a note) are paragraphs of their own.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from indexer.loaders.formats import FormatRead, check_office_zip, row_text, text_of
from indexer.loaders.model import Block, IngestError
from indexer.loaders.titles import meaningful_title

#: A spreadsheet with more cell text than this is refused (about 200,000 rows of 100 characters).
MAX_TABLE_CHARS = 20_000_000
#: ... and so is a workbook whose sheets' XML is larger than this (refused before any of it is parsed).
MAX_SHEET_XML_BYTES = 512 << 20
#: The XML openpyxl reads whole before the sheets: the table of shared strings.
MAX_SHARED_STRINGS_BYTES = 100 << 20
UNIT_ROWS = 10
UNIT_CHARS = 1000
HEADER_LOOKAHEAD = 20

_TOO_LARGE_HINT = "split it into smaller files, or keep only the sheets and columns people will ask about"


class _Pager:
    """Collects a table's rows as blocks, in pages of consecutive rows of one sheet, with their labels."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self.blocks: list[Block] = []
        self.labels: list[str] = []
        self.chars = 0
        self._sheet: str | None = None
        self._heading: str | None = None
        self._first = self._last = 0
        self._rows = self._unit_chars = 0

    def start_sheet(self, name: str | None) -> None:
        self._close()
        self._sheet = self._heading = name

    def add(self, row: int, text: str) -> None:
        if self._first and (self._rows >= UNIT_ROWS or self._unit_chars + len(text) > UNIT_CHARS):
            self._close()
        if not self._first:
            self.labels.append("")
            self._first, self._rows, self._unit_chars = row, 0, 0
            if self._heading:
                self.blocks.append(Block(len(self.labels), "heading", self._heading))
                self._heading = None
        self.blocks.append(Block(len(self.labels), "paragraph", text))
        self._last = row
        self._rows += 1
        self._unit_chars += len(text)
        self.chars += len(text)
        if self.chars > self.limit:
            where = f"sheet '{self._sheet}', row {row}" if self._sheet else f"row {row}"
            raise IngestError(self.path, f"spreadsheet too large: more than {self.limit:,} characters of cell text "
                                         f"(reading stopped at {where}); {_TOO_LARGE_HINT}")

    def finish(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._first:
            rows = f"rows {self._first}–{self._last}" if self._last > self._first else f"row {self._first}"
            self.labels[-1] = f"Sheet '{self._sheet}', {rows}" if self._sheet else rows
            self._first = 0


def add_table(pager: _Pager, rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    """Numbered rows of cell texts -> the pager's blocks: title rows, then one line per row. Returns the
    title rows (those above the header)."""
    head = list(islice(rows, HEADER_LOOKAHEAD))
    header_at = next((i for i, (_, cells) in enumerate(head) if _is_header(cells) and i + 1 < len(head)), None)
    header: list[str] = []
    titles = []
    for i, (number, cells) in enumerate(head):
        if i == header_at:
            header = cells
        elif any(cells):
            pager.add(number, row_text(header, cells) if header else "; ".join(c for c in cells if c))
            if header_at is not None and i < header_at:
                titles.append(pager.blocks[-1].text)
    for number, cells in rows:
        if any(cells):
            pager.add(number, row_text(header, cells) if header else "; ".join(c for c in cells if c))
    return titles


def _is_header(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return len(filled) >= 2 and not any(_is_number(c) for c in filled)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------------ xlsx

def load_spreadsheet(path: Path, limit: int = MAX_TABLE_CHARS) -> FormatRead:
    check_office_zip(path, "Excel", parsed_whole=lambda name: name == "xl/sharedStrings.xml")
    _check_sheet_sizes(path)
    import openpyxl

    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl, lxml and zipfile raise many kinds on a damaged file
        raise IngestError(path, f"not a readable Excel file ({type(exc).__name__}: {str(exc)[:120]}); "
                                "save it again from Excel as .xlsx") from None
    pager = _Pager(path, limit)
    titles: list[str] = []
    try:
        for sheet in book.worksheets:
            pager.start_sheet(sheet.title)
            sheet.reset_dimensions()  # read every row, whatever size the file declares (some writers say A1)
            rows = ((n, [text_of(v) for v in values]) for n, values in enumerate(sheet.iter_rows(values_only=True), 1))
            try:
                titles += add_table(pager, rows)
            except IngestError:
                raise
            except Exception as exc:
                raise IngestError(path, f"not a readable Excel file: sheet '{sheet.title}' is damaged "
                                        f"({type(exc).__name__}); save it again from Excel") from None
        pager.finish()
        titles.insert(0, meaningful_title(book.properties.title, path) or "")
    finally:
        book.close()
    return _result(path, pager, "sheet", titles)


def _check_sheet_sizes(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    sheets = sum(i.file_size for i in infos if i.filename.startswith("xl/worksheets/"))
    if sheets > MAX_SHEET_XML_BYTES:
        raise IngestError(path, f"spreadsheet too large: its sheets hold {sheets / 1e6:,.0f} MB of XML (povqa reads "
                                f"up to {MAX_SHEET_XML_BYTES >> 20} MB, about {MAX_TABLE_CHARS:,} characters of "
                                f"cell text); {_TOO_LARGE_HINT}")
    strings = sum(i.file_size for i in infos if i.filename == "xl/sharedStrings.xml")
    if strings > MAX_SHARED_STRINGS_BYTES:
        raise IngestError(path, f"spreadsheet too large: its table of texts is {strings / 1e6:,.0f} MB "
                                f"(at most {MAX_SHARED_STRINGS_BYTES >> 20} MB); {_TOO_LARGE_HINT}")


# ------------------------------------------------------------------------------------------------------- CSV

def load_csv(path: Path, limit: int = MAX_TABLE_CHARS) -> FormatRead:
    encoding = _text_encoding(path)
    pager = _Pager(path, limit)
    try:
        with open(path, newline="", encoding=encoding, errors="replace") as f:
            sample = f.read(65536)
            f.seek(0)
            reader = csv.reader(f, _dialect(path, sample))
            titles = add_table(pager, ((n, [text_of(v) for v in row]) for n, row in enumerate(reader, 1)))
    except csv.Error as exc:
        raise IngestError(path, f"not a readable CSV file ({exc}); save it again as CSV (UTF-8)") from None
    pager.finish()
    return _result(path, pager, "table", titles)


def _text_encoding(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(65536)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise IngestError(path, "not a text file (binary content); save the table as CSV (UTF-8)")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _dialect(path: Path, sample: str) -> type[csv.Dialect] | csv.Dialect:
    if path.suffix.lower() == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _result(path: Path, pager: _Pager, kind: str, titles: list[str]) -> FormatRead:
    """The pager's pages; the title is the file's own (xlsx properties), else its first title row if short,
    else the file name."""
    if not pager.blocks:
        raise IngestError(path, "no text in the spreadsheet (every sheet is empty); add content or remove it")
    title = next((t for t in titles if t and len(t) <= 160), path.stem)
    return FormatRead(kind, title, pager.blocks, len(pager.labels), page_labels=pager.labels)

