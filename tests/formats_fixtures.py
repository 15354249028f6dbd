"""Test files in every format povqa reads, made at test time from the real corpus (not toy strings).

The IPRCC case study's text twin (tests/data/iprcc-case-study-2011.txt) becomes a Word file with its headings, its
"Challenges Faced" section a PowerPoint deck (speaker notes included), pages of it rasterised to an image-only PDF
and to a skewed, 200-dpi grey scan, and its conclusion a UN-style web page with navigation, cookie banner, footer
and scripts around the content. The UNDP-CAITEC note's Chinese annex (docs_corpus/notes) becomes a rasterised
Chinese page and a spreadsheet of participants; the IPRCC interviewees a CSV. Ground truth is the text each file
was made from: the functions return it next to the file.

`python -m tests.formats_fixtures DIR` writes the folder of `make_formats_folder` (one file per format) into DIR.
"""

from __future__ import annotations

import csv
import html
import struct
import zipfile
import zlib
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IPRCC_TWIN = ROOT / "tests" / "data" / "iprcc-case-study-2011.txt"
CAITEC_NOTE = ROOT / "docs_corpus" / "notes" / "undp-caitec-summary-note-2021.md"

IPRCC_HEADINGS = (
    "Abstract", "Background", "Objectives", "Activities and Achievements", "Analysis of Initiatives",
    "Challenges Faced", "Research Questions", "Methodology", "Findings", "Conclusion and Recommendations",
    "Annexes", "References", "List of interviewees and participants in workshop",
)
_SUBHEADING = re.compile(r"^(Training|Research|Exchange|Cooperation|Information): ")
_TERMINAL = ".!?:;)”\""


# ------------------------------------------------------------------------------------------- the source text

@dataclass
class Section:
    heading: str
    level: int = 1
    paragraphs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.heading, *self.paragraphs])


@lru_cache(maxsize=1)
def iprcc_sections() -> tuple[str, tuple[Section, ...]]:
    """(title, sections) of the IPRCC case study's text twin: its headings and paragraphs, the lines the twin
    broke mid-paragraph joined again."""
    lines = [ln.rstrip() for ln in IPRCC_TWIN.read_text("utf-8").splitlines()]
    title = next(ln.strip() for ln in lines[1:] if ln.strip())
    sections: list[Section] = [Section("IPRCC case study", 1)]
    for line in lines[lines.index("    " + title) + 1:]:
        text = " ".join(line.split())
        if not text:
            continue
        if text in IPRCC_HEADINGS:
            sections.append(Section(text, 1))
        elif _SUBHEADING.match(text):
            sections.append(Section(text, 2))
        elif line.startswith("      ") or not sections[-1].paragraphs or sections[-1].paragraphs[-1][-1] in _TERMINAL:
            sections[-1].paragraphs.append(text)
        else:  # the twin broke this paragraph over two lines
            sections[-1].paragraphs[-1] += " " + text
    return title, tuple(s for s in sections if s.paragraphs or s.level == 1)


def iprcc_section(heading: str) -> Section:
    return next(s for s in iprcc_sections()[1] if s.heading == heading)


def challenges() -> list[tuple[str, list[str], list[str]]]:
    """The eight challenges of "Challenges Faced" as (title, bullet sentences, speaker-note sentences): the
    title is the challenge's first sentence, the bullets the next two, the notes the rest."""
    section = iprcc_section("Challenges Faced")
    out = []
    for paragraph in section.paragraphs[1:]:
        sentences = re.split(r"(?<=[.])\s*(?=[A-Z])", re.sub(r"^\d\.\s*", "", paragraph))
        out.append((sentences[0].rstrip("."), sentences[1:3], sentences[3:]))
    return out


def caitec_participants() -> list[dict[str, str]]:
    """The participant and observer lists of the UNDP-CAITEC note's annex, one dict per person."""
    text = CAITEC_NOTE.read_text("utf-8")
    annex = text[text.index("Participant List"):]
    people, group = [], "Participant"
    for block in re.split(r"\n\s*\n", annex):
        lines = [ln.replace("**", "").strip() for ln in block.strip().splitlines() if ln.strip()]
        if not lines or lines[0] in ("Participant List",):
            continue
        if lines[0] == "Observer List":
            group = "Observer"
            continue
        if len(lines) == 1:  # an organisation line above its people
            continue
        m = re.match(r"^([\u4e00-\u9fff]{2,4})\s+(.+)$", lines[0])
        chinese, name = (m.group(1), m.group(2)) if m else ("", lines[0])
        rest = lines[1:]
        chinese_role = " ".join(ln for ln in rest if re.search(r"[\u4e00-\u9fff]", ln))
        english = " ".join(re.sub(r"^[\u4e00-\u9fff、，\s]+", "", ln) for ln in rest).strip()
        people.append({"Group": group, "Name": name, "Chinese name": chinese,
                       "Position (Chinese)": re.sub(r"\s+[A-Z].*$", "", chinese_role), "Position": english})
    return people


def caitec_chinese_lines() -> list[str]:
    """The lines of the CAITEC note's annex that hold Chinese characters, as written (markup removed)."""
    text = CAITEC_NOTE.read_text("utf-8")
    annex = text[text.index("Participant List"):]
    return [ln.replace("**", "").strip() for ln in annex.splitlines() if re.search(r"[\u4e00-\u9fff]", ln)]


def interviewees() -> list[dict[str, str]]:
    """The IPRCC case study's interviewees: name, position and organisation, and the group they were in."""
    section = iprcc_section("List of interviewees and participants in workshop")
    rows, group = [], ""
    for paragraph in section.paragraphs:
        if paragraph.startswith("•"):
            name, _, rest = paragraph.lstrip("• ").rstrip(".").partition(", ")
            position, _, organisation = rest.partition(", ")
            rows.append({"Name": name, "Position": position, "Organisation": organisation, "Interview": group})
        else:
            group = re.split(r"[:.](?:\s|$)", re.sub(r"^\d\.\s*", "", paragraph))[0]
    return rows


# ------------------------------------------------------------------------------------------------ Office files

def write_docx(path: Path, skip: tuple[str, ...] = ()) -> Path:
    """The IPRCC case study as a Word file: title, headings (levels 1-2), paragraphs, and the interviewees as a
    table; sections named in `skip` left out."""
    import docx

    title, sections = iprcc_sections()
    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    for section in sections:
        if section.heading in skip or section.heading == "IPRCC case study":
            if section.heading == "IPRCC case study":
                for paragraph in section.paragraphs:
                    document.add_paragraph(paragraph)
            continue
        document.add_heading(section.heading, level=section.level)
        if section.heading.startswith("List of interviewees"):
            people = interviewees()
            table = document.add_table(rows=1, cols=4)
            for cell, name in zip(table.rows[0].cells, people[0]):
                cell.text = name
            for person in people:
                for cell, value in zip(table.add_row().cells, person.values()):
                    cell.text = value
            continue
        for paragraph in section.paragraphs:
            document.add_paragraph(paragraph)
    document.save(path)
    return path


def write_pptx(path: Path) -> Path:
    """The "Challenges Faced" section as a deck: a title slide, the introduction, then one slide per challenge
    (title, two bullets, the rest of the challenge in the speaker notes)."""
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Challenges Faced"
    slide.placeholders[1].text = "International Poverty Reduction Center in China (IPRCC): case study, 2011"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Challenges faced by IPRCC"
    slide.placeholders[1].text = iprcc_section("Challenges Faced").paragraphs[0]
    for title, bullets, notes in challenges():
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0] if bullets else ""
        for bullet in bullets[1:]:
            body.add_paragraph().text = bullet
        if notes:
            slide.notes_slide.notes_text_frame.text = " ".join(notes)
    deck.save(path)
    return path


def write_xlsx(path: Path) -> Path:
    """The CAITEC participants as a workbook: a 'Participants' and an 'Observers' sheet, a title row above each
    table's header row."""
    import openpyxl

    people = caitec_participants()
    book = openpyxl.Workbook()
    book.remove(book.active)
    for group, sheet_name in (("Participant", "Participants"), ("Observer", "Observers")):
        sheet = book.create_sheet(sheet_name)
        sheet.append([f"UNDP-CAITEC informal discussion, March 2021: {sheet_name.lower()}"])
        sheet.append([])
        columns = ["Name", "Chinese name", "Position", "Position (Chinese)"]
        sheet.append(columns)
        for person in people:
            if person["Group"] == group:
                sheet.append([person[c] for c in columns])
    book.save(path)
    return path


def write_csv(path: Path) -> Path:
    rows = interviewees()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------------ HTML

_SCRIPT = """
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date()); gtag('config', 'G-UNDP0000');
  document.addEventListener('DOMContentLoaded', function () {
    var menu = document.querySelector('.menu-toggle');
    if (menu) { menu.addEventListener('click', function () { document.body.classList.toggle('menu-open'); }); }
  });
"""


def write_html(path: Path, heading: str = "Conclusion and Recommendations") -> Path:
    """A UN-style web page: the IPRCC section `heading` as the article, with a skip link, navigation menu,
    search form, breadcrumbs, related links, cookie banner, footer, styles and scripts around it."""
    section = iprcc_section(heading)
    title = iprcc_sections()[0]
    menu = ["Home", "Who we are", "What we do", "Our impact", "Publications", "Newsroom", "Get involved", "Contact us"]
    article = "\n".join(f"      <p>{html.escape(p)}</p>" for p in section.paragraphs)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(heading)} | IPRCC case study | United Nations Development Programme</title>
  <style>body {{ font-family: sans-serif; }} .menu a {{ padding: 0 1em; }} footer {{ background: #0468b1; }}</style>
  <script async src="https://www.googletagmanager.com/gtag/js?id=G-UNDP0000"></script>
  <script>{_SCRIPT}</script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to main content</a>
  <header>
    <div class="logo"><a href="/">United Nations Development Programme</a></div>
    <nav class="menu" aria-label="Main menu"><ul>
{"".join(f'      <li><a href="/{m.lower().replace(" ", "-")}">{m}</a></li>' + chr(10) for m in menu)}    </ul></nav>
    <form class="search" action="/search"><input type="search" placeholder="Search UNDP"><button>Search</button></form>
  </header>
  <div class="breadcrumb"><a href="/">Home</a> › <a href="/publications">Publications</a> › South-South cooperation</div>
  <main id="main">
    <article>
      <h1>{html.escape(title)}</h1>
      <p class="byline">Working paper 2011.12 · Salehuddin Ahmed, Pang Xiaopeng and Zhang Xiaoying</p>
      <h2>{html.escape(heading)}</h2>
{article}
    </article>
    <aside class="related"><h3>Related publications</h3><ul>
      <li><a href="/p/1">Human Development Report 2020</a></li><li><a href="/p/2">Annual report 2019</a></li>
    </ul></aside>
  </main>
  <div id="cookie-banner" role="dialog">We use cookies to improve your experience on our website. By continuing
    to browse you agree to our use of cookies. <button>Accept all cookies</button> <button>Manage settings</button></div>
  <footer>
    <ul><li><a href="/terms">Terms of use</a></li><li><a href="/privacy">Privacy policy</a></li>
      <li><a href="/fraud">Report fraud, abuse, misconduct</a></li><li><a href="/jobs">Jobs</a></li></ul>
    <p>Follow us: Facebook · Twitter · LinkedIn · Instagram · YouTube</p>
    <p>© 2021 United Nations Development Programme. All rights reserved.</p>
  </footer>
  <script>{_SCRIPT}</script>
</body>
</html>
"""
    path.write_text(page, "utf-8")
    return path


NAVIGATION_WORDS = ("Skip to main content", "Who we are", "Accept all cookies", "Terms of use", "Follow us",
                    "All rights reserved", "dataLayer", "Related publications", "Search UNDP")


# ------------------------------------------------------------------------------------------- rasterised pages

def font_file(pattern: str) -> tuple[str, int] | None:
    """(file, face index) of the font fontconfig picks for `pattern`, or None without fontconfig or a match."""
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}:%{index}:%{family}", pattern], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    file, _, rest = out.partition(":")
    index, _, family = rest.partition(":")
    wanted = pattern.split(":")[0].lower()
    if not file or (wanted not in ("serif", "sans") and wanted.split()[0] not in family.lower()):
        return None
    return file, int(index or 0)


def render_page(paragraphs: list[str], dpi: int = 300, font: str = "DejaVu Serif", size_pt: float = 11,
                heading: str | None = None) -> tuple["Image.Image", str]:  # noqa: F821
    """An A4 page (grey-scale image) of `heading` and as many whole `paragraphs` as fit, word-wrapped within
    one-inch margins; returns (image, the text rendered)."""
    from PIL import Image, ImageDraw, ImageFont

    found = font_file(font)
    cjk = bool(re.search(r"[\u4e00-\u9fff]", " ".join(paragraphs)))
    if found is not None:
        face = ImageFont.truetype(found[0], round(size_pt * dpi / 72), index=found[1])
    elif not cjk:  # no fontconfig or no such font: Pillow's own scalable Latin font
        face = ImageFont.load_default(size=round(size_pt * dpi / 72))
    else:
        raise RuntimeError(f"no font matching {font!r} (apt-get install fonts-noto-cjk)")
    width, height, margin = round(8.27 * dpi), round(11.69 * dpi), dpi
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    line_height = round(size_pt * dpi / 72 * 1.35)
    y, rendered = margin, []
    for paragraph in ([heading] if heading else []) + paragraphs:
        lines = _wrap(paragraph, face, width - 2 * margin, by_char=cjk)
        if y + len(lines) * line_height > height - margin:
            break
        for line in lines:
            draw.text((margin, y), line, font=face, fill=0)
            y += line_height
        y += line_height // 2
        rendered.append(paragraph)
    return image, "\n".join(rendered)


def _wrap(text: str, face, max_width: int, by_char: bool = False) -> list[str]:
    units = list(text) if by_char else text.split()
    joiner = "" if by_char else " "
    lines, current = [], ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if current and face.getlength(candidate) > max_width:
            lines.append(current)
            current = unit.lstrip() if by_char else unit
        else:
            current = candidate
    return lines + ([current] if current else [])


def degrade(image: "Image.Image", dpi_from: int = 300, dpi_to: int = 200, skew_degrees: float = 2.0,  # noqa: F821
            paper: int = 218, ink: int = 45, noise: float = 12.0, seed: int = 3) -> "Image.Image":  # noqa: F821
    """What a cheap office scanner makes of a printed page: grey paper and ink, resampled to `dpi_to`,
    rotated by `skew_degrees`, with sensor noise and a slight blur."""
    import numpy as np
    from PIL import Image, ImageFilter

    scale = dpi_to / dpi_from
    page = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    pixels = np.asarray(page, dtype=np.float32) / 255.0
    pixels = ink + (paper - ink) * pixels  # black -> ink, white -> paper
    page = Image.fromarray(pixels.astype(np.uint8)).rotate(skew_degrees, resample=Image.BICUBIC,
                                                            fillcolor=paper, expand=False)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    rng = np.random.default_rng(seed)
    pixels = np.asarray(page, dtype=np.float32) + rng.normal(0, noise, (page.height, page.width))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_image_pdf(path: Path, images: list, dpi: int = 300) -> Path:
    """A PDF whose pages are only the given images (no text layer), as a scanner writes one."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt")
    for image in images:
        pdf.add_page(format=(image.width * 72 / dpi, image.height * 72 / dpi))
        pdf.image(image, x=0, y=0, w=image.width * 72 / dpi, h=image.height * 72 / dpi)
    pdf.output(str(path))
    return path


def english_page(heading: str = "Background", dpi: int = 300) -> tuple["Image.Image", str]:  # noqa: F821
    section = iprcc_section(heading)
    return render_page(section.paragraphs, dpi=dpi, heading=heading)


def chinese_page(dpi: int = 300) -> tuple["Image.Image", str]:  # noqa: F821
    return render_page(caitec_chinese_lines(), dpi=dpi, font="Noto Sans CJK SC:lang=zh-cn", size_pt=12)


def has_font(pattern: str) -> bool:
    return font_file(pattern) is not None


# ---------------------------------------------------------------------------------- one file of each format

#: Where each file's content comes from, so that every file answers a question no other file in the folder can.
FOLDER_SECTIONS = {"scan": "Background", "grey scan": "Analysis of Initiatives", "web": "Conclusion and Recommendations",
                   "slides": "Challenges Faced"}


def make_formats_folder(folder: Path, chinese: bool = True) -> dict[str, str]:
    """One file per format, each with content no other file in the folder holds; returns file name -> the
    text it was made from (the ground truth)."""
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, str] = {}
    skip = tuple(FOLDER_SECTIONS.values()) + ("List of interviewees and participants in workshop",)
    write_docx(folder / "iprcc case study.docx", skip=skip)
    truth["iprcc case study.docx"] = "\n".join(s.text for s in iprcc_sections()[1] if s.heading not in skip)
    write_pptx(folder / "challenges.pptx")
    truth["challenges.pptx"] = iprcc_section("Challenges Faced").text
    write_html(folder / "conclusion.html", FOLDER_SECTIONS["web"])
    truth["conclusion.html"] = iprcc_section(FOLDER_SECTIONS["web"]).text
    write_xlsx(folder / "caitec participants.xlsx")
    truth["caitec participants.xlsx"] = "\n".join(" ".join(p.values()) for p in caitec_participants())
    write_csv(folder / "interviewees.csv")
    truth["interviewees.csv"] = "\n".join(" ".join(r.values()) for r in interviewees())
    image, text = english_page(FOLDER_SECTIONS["scan"])
    write_image_pdf(folder / "background scan.pdf", [image])
    truth["background scan.pdf"] = text
    image, text = english_page(FOLDER_SECTIONS["grey scan"])
    degrade(image).save(folder / "analysis scan.jpg", quality=80, dpi=(200, 200))
    truth["analysis scan.jpg"] = text
    if chinese:
        image, text = chinese_page()
        image.save(folder / "participants zh.png", dpi=(300, 300))
        truth["participants zh.png"] = text
    return truth


# ------------------------------------------------------------------------------------------------ bad inputs

def write_sheet_xml(path: Path, rows: int, cell: str, columns: int = 5) -> Path:
    """A valid .xlsx of `rows` x `columns` inline-string cells, written as XML straight into the zip."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in XLSX_SKELETON.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                    b'spreadsheetml/2006/main">' + f'<dimension ref="A1:{chr(64 + columns)}{rows}"/>'.encode()
                    + b"<sheetData>")
            for r in range(1, rows + 1):
                cells = "".join(f'<c t="inlineStr"><is><t>{cell} {r}.{c}</t></is></c>' for c in range(columns))
                f.write(f'<row r="{r}">{cells}</row>'.encode())
            f.write(b"</sheetData></worksheet>")
    return path


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"""
#: The parts of a one-sheet workbook besides the sheet itself (xl/worksheets/sheet1.xml).
XLSX_SKELETON = {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS, "xl/workbook.xml": _WORKBOOK,
                 "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS}


def zip_bomb_docx(path: Path, expanded_mb: int = 200) -> Path:
    """A '.docx' whose document part inflates from a few hundred KB to `expanded_mb` MB of blanks."""
    blank = b" " * (1 << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = b"".join(deflater.compress(blank) for _ in range(expanded_mb)) + deflater.flush()
    crc = 0
    for _ in range(expanded_mb):
        crc = zlib.crc32(blank, crc)
    return _write_zip_with_member(path, "word/document.xml", packed, crc, expanded_mb << 20)


def _write_zip_with_member(path: Path, name: str, packed: bytes, crc: int, size: int) -> Path:
    """A zip of one deflated member, written by hand (zipfile would inflate nothing, but it needs the data)."""
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), size, len(n), 0) + n
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed), size,
                          len(n), 0, 0, 0, 0, 0, 0) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(packed), 0)
    path.write_bytes(local + packed + central + end)
    return path


def encrypted_office_file(path: Path) -> Path:
    """What Office writes for a password-protected .docx/.xlsx/.pptx: an OLE compound file holding the
    streams 'EncryptionInfo' and 'EncryptedPackage' (the header and directory entries, the rest padding)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    entries = b"".join(name.encode("utf-16-le").ljust(64, b"\0") + bytes(64)
                       for name in ("Root Entry", "EncryptionInfo", "EncryptedPackage"))
    path.write_bytes(header.ljust(512, b"\xff") + entries.ljust(4096, b"\0") + bytes(8192))
    return path


# ------------------------------------------------------------------------------------------ recall measures

def word_recall(truth: str, found: str) -> float:
    """Share of the ground truth's words (lower-cased, as a multiset) that the found text holds."""
    from collections import Counter

    def words(text: str) -> Counter:
        return Counter(re.findall(r"\w+", text.lower().replace("’", "'")))

    want, got = words(truth), words(found)
    return sum((want & got).values()) / max(1, sum(want.values()))


def cjk_recall(truth: str, found: str) -> float:
    """Share of the ground truth's Chinese characters (as a multiset) that the found text holds."""
    from collections import Counter

    def chars(text: str) -> Counter:
        return Counter(re.findall(r"[\u4e00-\u9fff]", text))

    want, got = chars(truth), chars(found)
    return sum((want & got).values()) / max(1, sum(want.values()))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "formats-sample")
    for name in make_formats_folder(target):
        print(target / name)
