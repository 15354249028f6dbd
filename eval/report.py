"""The `povqa eval` report: report.json (every row, re-scorable), report.md (tables), PNG plots."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import fmt

HEADLINE = [
    ("questions", "questions"),
    ("errors", "errors (incl. non-200)"),
    ("hit@1", "retrieval hit@1"),
    ("hit@3", "retrieval hit@3"),
    ("hit@5", "retrieval hit@5"),
    ("mrr", "retrieval MRR"),
    ("evidence_cited", "citation contains the evidence"),
    ("evidence_cited_when_answered", "… of the answered (not refused) ones"),
    ("quote_verbatim", "quotes verbatim on their page"),
    ("page_present", "citations with a page"),
    ("page_correct", "PDF citation on the gold page"),
    ("keyword_recall", "key facts found (micro)"),
    ("all_keywords", "answers with every key fact"),
    ("briefing_bullets", "briefing: distinct cited bullets"),
    ("refusal_precision", "refusal precision"),
    ("refusal_recall", "refusal recall"),
    ("false_refusal_rate", "false-refusal rate"),
    ("latency_p50_ms", "latency p50 (ms)"),
    ("latency_p95_ms", "latency p95 (ms)"),
    ("faithfulness", "judge: faithfulness"),
    ("answer_relevancy", "judge: answer relevancy"),
]
GROUP_COLUMNS = [
    ("questions", "n"), ("errors", "err"), ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"),
    ("evidence_cited", "cited ev."), ("quote_verbatim", "verbatim"), ("page_correct", "page ok"),
    ("keyword_recall", "key facts"), ("refusal_precision", "ref. P"), ("refusal_recall", "ref. R"),
    ("false_refusal_rate", "false ref."), ("latency_p50_ms", "p50 ms"),
]
LOWER_IS_BETTER = {"errors", "false_refusal_rate", "latency_p50_ms", "latency_p95_ms"}
PLOT_RETRIEVAL = "retrieval_by_language.png"
PLOT_LATENCY = "latency.png"


def build(dataset: Path, runs: list, judge_notes: list[str]) -> dict[str, Any]:
    runs_json = [r.to_json() for r in runs]
    main = next((r for r in runs_json if not r["skipped"]), runs_json[0])
    return {
        "dataset": str(dataset),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fuzzy_match": {"ngram": metrics.NGRAM, "threshold": metrics.THRESHOLD},
        "judge": judge_notes,
        "summary": main["summary"],
        "by_language": main["by_language"],
        "by_kind": main["by_kind"],
        "rows": main["rows"],
        "runs": runs_json,
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _value(key: str, value: Any) -> str:
    if key.endswith("_ms"):
        return fmt(value, 0)
    return fmt(value)


def headline_table(runs: list[dict]) -> str:
    active = [r for r in runs if not r["skipped"]]
    if len(active) <= 1:
        summary = active[0]["summary"] if active else {}
        return _table(["metric", "value"], [[label, _value(key, summary.get(key))] for key, label in HEADLINE])
    first = active[0]["summary"]
    rows = []
    for key, label in HEADLINE:
        cells = [label, _value(key, first.get(key))]
        for r in active[1:]:
            v, base = r["summary"].get(key), first.get(key)
            cell = _value(key, v)
            if isinstance(v, (int, float)) and isinstance(base, (int, float)) and key != "questions":
                delta = v - base
                better = (delta < 0) if key in LOWER_IS_BETTER else (delta > 0)
                mark = "" if abs(delta) < 1e-12 else (" ▲" if better else " ▼")
                cell += f" ({'+' if delta >= 0 else ''}{_value(key, float(delta))}{mark})"
            cells.append(cell)
        rows.append(cells)
    names = [r["name"] for r in active]
    header = ["metric", names[0]] + [f"{n} (Δ vs {names[0]})" for n in names[1:]]
    return _table(header, rows)


def group_table(groups: dict[str, dict], label: str) -> str:
    rows = [[name] + [_value(k, s.get(k)) for k, _ in GROUP_COLUMNS] for name, s in groups.items()]
    return _table([label] + [h for _, h in GROUP_COLUMNS], rows)


def _what_went_wrong(row: dict) -> str:
    if row.get("error"):
        return f"error: {row['error']}"
    problems = []
    if not row["answerable"]:
        return "answered an unanswerable question" if not row.get("refused") else "ok"
    if row.get("refused"):
        problems.append("refused")
    if row.get("retrieval_rank") is None:
        problems.append("evidence not retrieved")
    elif row["retrieval_rank"] > 1:
        problems.append(f"evidence at rank {row['retrieval_rank']}")
    checks = row.get("citation_checks") or {}
    if not row.get("refused") and not checks.get("evidence_cited"):
        problems.append("evidence not cited")
    if checks.get("quotes_not_verbatim"):
        problems.append(f"quotes not verbatim: {checks['quotes_not_verbatim']}")
    if row.get("keywords_missing"):
        problems.append("missing " + ", ".join(repr(k) for k in row["keywords_missing"]))
    return "; ".join(problems) or "ok"


def worst_questions(rows: list[dict], n: int = 10) -> str:
    worst = sorted(rows, key=lambda r: (metrics.row_quality(r), r["id"]))[:n]
    out = []
    for r in worst:
        gold = f"{r['doc']} p. {r['page']}" if r["answerable"] else "(unanswerable)"
        out.append(f"### {r['id']} ({r['lang']}, {r['kind']}) — {_what_went_wrong(r)}\n")
        out.append(f"- question: {r['question']}")
        out.append(f"- gold: {gold}")
        answer = " ".join((r.get("answer") or "").split())
        out.append(f"- answer: {answer[:300]}{'…' if len(answer) > 300 else ''}" if r.get("answer") is not None else "- answer: (none)")
        out.append("- retrieved (top 3):")
        for i, p in enumerate(r.get("passages", [])[:3], 1):
            snippet = " ".join(p.get("text", "").split())[:100]
            out.append(f"  {i}. {p.get('source')} p. {p.get('page')}: {snippet}")
        if not r.get("passages"):
            out.append("  (nothing)")
        out.append("")
    return "\n".join(out)


def markdown(result: dict, plots: dict[str, str]) -> str:
    runs = result["runs"]
    active = [r for r in runs if not r["skipped"]]
    parts = [
        "# povqa evaluation\n",
        f"- dataset: `{result['dataset']}`, {result['summary']['questions'] if result['summary'] else 0} questions",
        f"- created: {result['created']}",
    ]
    for r in runs:
        parts.append(f"- run **{r['name']}**: {r['target']}" + (f", {r['seconds']}s" if not r["skipped"] else "")
                     + "".join(f" — {note}" for note in r["notes"]))
    parts.append(f"- evidence match: >= {int(metrics.THRESHOLD * 100)}% of the evidence's word {metrics.NGRAM}-grams "
                 "(lowercased, punctuation stripped, hyphen/line-break-insensitive) in the passage or quote")
    parts.append("- failed questions (errors, non-200) are kept as rows and count as misses everywhere\n")
    parts.append("## Headline\n")
    parts.append(headline_table(runs))
    for note in result["judge"]:
        parts.append(f"> {note}\n")
    for r in active:
        suffix = f" — {r['name']}" if len(active) > 1 else ""
        parts.append(f"## By language{suffix}\n")
        parts.append(group_table(r["by_language"], "language"))
        parts.append(f"## By kind{suffix}\n")
        parts.append(group_table(r["by_kind"], "kind"))
    if plots:
        parts.append("## Plots\n")
        for title, name in plots.items():
            parts.append(f"**{title}**\n\n![{title}]({name})\n")
    for r in active:
        errors = [row for row in r["rows"] if row.get("error")]
        if errors:
            parts.append(f"## Errors — {r['name']} ({len(errors)})\n")
            parts.append(_table(["id", "status", "error"], [[e["id"], fmt(e.get("status")), e["error"]] for e in errors]))
    if active:
        suffix = f" — {active[0]['name']}" if len(active) > 1 else ""
        parts.append(f"## Worst ten questions{suffix}\n")
        parts.append(worst_questions(active[0]["rows"]))
    return "\n".join(parts) + "\n"


def plot(result: dict, out: Path) -> dict[str, str]:
    """Per-language hit@5 bars and the latency histogram; returns {title: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    active = [r for r in result["runs"] if not r["skipped"] and r["rows"]]
    if not active:
        return {}
    files = {}
    langs = sorted({lang for r in active for lang in r["by_language"]})
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(langs) * max(1, len(active)) + 2), 3.6))
    width = 0.8 / len(active)
    x = np.arange(len(langs))
    for i, r in enumerate(active):
        values = [r["by_language"].get(lang, {}).get("hit@5") or 0.0 for lang in langs]
        ax.bar(x + (i - (len(active) - 1) / 2) * width, values, width, label=r["name"])
    ax.set_xticks(x, langs)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("hit@5 (answerable questions)")
    ax.set_title("Retrieval: gold evidence in the top 5, by language")
    files["Retrieval hit@5 by language"] = _save(fig, ax, len(active) > 1, out / PLOT_RETRIEVAL)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in active:
        lat = [row["latency_ms"] for row in r["rows"] if row.get("error") is None and row.get("latency_ms") is not None]
        if lat:
            ax.hist(lat, bins=min(30, max(5, len(lat) // 4)), alpha=0.6, label=r["name"])
            s = r["summary"]
            ax.axvline(s["latency_p50_ms"], linestyle="--", linewidth=1)
            ax.axvline(s["latency_p95_ms"], linestyle=":", linewidth=1)
    ax.set_xlabel("answer call latency (ms); dashed p50, dotted p95")
    ax.set_ylabel("questions")
    ax.set_title("Latency distribution")
    files["Latency distribution"] = _save(fig, ax, len(active) > 1, out / PLOT_LATENCY)
    return files


def _save(fig, ax, legend: bool, path: Path) -> str:
    """Finish a plot (legend when several runs are compared), write it as PNG, free it; returns the file name."""
    import matplotlib.pyplot as plt

    if legend:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write(result: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), "utf-8")
    plots = plot(result, out)
    (out / "report.md").write_text(markdown(result, plots), "utf-8")
    return {"json": out / "report.json", "md": out / "report.md", **{k: out / v for k, v in plots.items()}}


def console_summary(result: dict) -> str:
    """A few lines for the terminal."""
    lines = []
    for r in result["runs"]:
        if r["skipped"]:
            lines.append(f"{r['name']}: " + "; ".join(r["notes"]))
            continue
        s = r["summary"]
        lines.append(
            f"{r['name']}: {s['questions']} questions, {s['errors']} errors | hit@1 {fmt(s['hit@1'])} hit@5 {fmt(s['hit@5'])} "
            f"MRR {fmt(s['mrr'])} | evidence cited {fmt(s['evidence_cited'])} verbatim {fmt(s['quote_verbatim'])} "
            f"page ok {fmt(s['page_correct'])} | key facts {fmt(s['keyword_recall'])} | refusal P {fmt(s['refusal_precision'])} "
            f"R {fmt(s['refusal_recall'])} false {fmt(s['false_refusal_rate'])} | p50 {fmt(s['latency_p50_ms'], 0)} ms "
            f"p95 {fmt(s['latency_p95_ms'], 0)} ms"
        )
    return "\n".join(lines)
