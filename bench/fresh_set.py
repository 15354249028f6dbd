"""The held-out fresh set (eval/fresh.jsonl) beside the frozen test and tuning parts: one table per part, the fresh
set by language and by question type, and how each answerable miss failed. Reads the `povqa eval --report` folders
of the three runs (the same code and index) and writes the `fresh-set` section of bench/RESULTS.md:

    POVQA_INDEX_DIR=IDX povqa eval eval/fresh.jsonl --report OUT/fresh      # and test, tuning the same way
    python -m bench.fresh_set OUT --commit ffba585 [--dataset eval/fresh.jsonl] [--no-write]

It measures; it does not teach: no rule may be chosen by reading the fresh set's misses (eval/fresh.md).
A cross-document question counts as "cited" in `povqa eval` when either document's evidence is cited; here
"both docs" says whether every gold location (`doc` and each `also`) was cited.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from bench.common import load, write_section
from eval import metrics
from eval.harness import load_dataset

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("fresh", "test", "tuning")
COLUMNS = [("questions", "n"), ("evidence_cited", "cited evidence"), ("false_refusal_rate", "false refusals"),
           ("refusal_recall", "refusal recall"), ("hit@5", "evidence in top 5"), ("all_keywords", "every key fact")]
MISSES = ("refused", "not in top 5", "in top 5, not cited", "cited")


def miss_kind(row: dict) -> str:
    """How an answerable question ended: refused, gold not retrieved, retrieved but another quote cited, or cited."""
    if row.get("error") is not None or row.get("refused"):
        return "refused"
    if row.get("citation_checks") and row["citation_checks"]["evidence_cited"]:
        return "cited"
    rank = row.get("retrieval_rank")
    return "in top 5, not cited" if rank is not None and rank <= 5 else "not in top 5"


def all_locations_cited(item: dict, row: dict) -> bool:
    """Every gold location of the item (its doc and each `also`) is stated by some citation of the answer."""
    cites = row.get("citations") or []
    return all(any(metrics.same_document(c.get("source"), loc["doc"])
                   and metrics.quote_matches_evidence(c.get("quote", ""), loc["evidence"]) for c in cites)
               for loc in metrics.gold_locations(item))


def _cell(value) -> str:
    return metrics.fmt(value, 2)


def table(label: str, groups: dict[str, list[dict]]) -> str:
    lines = [f"| {label} | " + " | ".join(h for _, h in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, rows in groups.items():
        s = metrics.summarize(rows)
        lines.append(f"| {name} | " + " | ".join(_cell(s.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def _tags(item: dict) -> list[str]:
    return item.get("tags") or [item.get("qtype", "untyped")]


def type_table(rows: list[dict], items: dict[str, dict]) -> str:
    tags = sorted({t for r in rows for t in _tags(items[r["id"]])})
    header = ["type", "n", "cited evidence", "false refusals", "refusal recall", "every key fact", "both docs cited"]
    header += list(MISSES)
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for tag in tags:
        group = [r for r in rows if tag in _tags(items[r["id"]])]
        s = metrics.summarize(group)
        answerable = [r for r in group if r["answerable"]]
        multi = [r for r in answerable if "crossdoc" in _tags(items[r["id"]]) and items[r["id"]].get("also")]
        both = (f"{sum(all_locations_cited(items[r['id']], r) for r in multi)}/{len(multi)}" if multi else "–")
        kinds = Counter(miss_kind(r) for r in answerable)
        cells = [tag, str(len(group)), _cell(s["evidence_cited"]), _cell(s["false_refusal_rate"]),
                 _cell(s["refusal_recall"]), _cell(s["all_keywords"]), both]
        cells += [str(kinds.get(m, 0)) if answerable else "–" for m in MISSES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build(out: Path, dataset: Path, commit: str, command: str, notes: str = "") -> str:
    reports = {p: json.loads((out / p / "report.json").read_text("utf-8")) for p in PARTS}
    items = {item["id"]: item for item in load_dataset(dataset)}
    fresh = reports["fresh"]["rows"]
    by_lang: dict[str, list[dict]] = {}
    for r in fresh:
        by_lang.setdefault(r["lang"], []).append(r)
    order = ["en", "zh", "fr", "es", "ar", "pt", "sw", "bn"]
    langs = {lang: by_lang[lang] for lang in order if lang in by_lang}
    kinds = Counter(miss_kind(r) for r in fresh if r["answerable"])
    return "\n\n".join([
        f"### The fresh held-out set beside the frozen test and tuning parts (code at {commit})",
        f"Command: `{command}`. One docs_corpus/ index built at {commit} (real embedder), the three sets asked "
        "in-process one after another (niced, beside another helper's index benchmark: latencies not comparable, "
        "so not shown). `eval/fresh.jsonl` (eval/fresh.md): 138 questions in 46 groups written "
        "from the documents before any answer was seen, never tuned on.",
        table("part", {p: reports[p]["rows"] for p in PARTS}),
        "**Fresh set by language**",
        table("lang", langs),
        "**Fresh set by question type** (a question counts under each of its tags; the last four columns: how "
        "each answerable question ended; 'both docs cited': cross-document questions whose answer cites the "
        "evidence of every document, not just one)",
        type_table(fresh, items),
        "Answerable fresh questions: " + ", ".join(f"{m} {kinds.get(m, 0)}" for m in MISSES)
        + f". Load average at the end: {load()}.",
    ] + ([notes.strip()] if notes.strip() else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder holding fresh/, test/ and tuning/ report folders")
    parser.add_argument("--dataset", type=Path, default=ROOT / "eval" / "fresh.jsonl")
    parser.add_argument("--commit", required=True, help="the commit the three runs were made at")
    parser.add_argument("--command", default="POVQA_INDEX_DIR=IDX povqa eval eval/{fresh,test,tuning}.jsonl "
                        "--report OUT/{part}; python -m bench.fresh_set OUT --commit C")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to the section (what the misses show)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    notes = args.notes.read_text("utf-8") if args.notes else ""
    body = build(args.out, args.dataset, args.commit, args.command, notes)
    if args.no_write:
        print(body)
    else:
        print(f"written to {write_section('fresh-set', body)}")


if __name__ == "__main__":
    main()
