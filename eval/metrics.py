"""Scoring for `povqa eval`: pure functions over one dataset item and one Answer (as a dict).

Nothing here talks to a model, an index or a server: the page text needed for the verbatim
check comes from a `page_text(doc_id, page) -> str | None` callable, so the same code scores
in-process runs, HTTP runs and hand-made answers in tests.

Fuzzy evidence matching works on word 3-grams: both texts are lowercased, words broken
across a hyphen and/or line break are joined ("allevi-\\nation" -> "alleviation"), punctuation
is dropped, and a needle "is found" in a haystack when at least 60% of its 3-grams occur there.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

NGRAM = 3
THRESHOLD = 0.6
SHORT_QUOTE_MIN_WORDS = 6  # a quote shorter than the evidence must still have this many words to match it
KS = (1, 3, 5)

PageText = Callable[[str, int], "str | None"]

_HYPHENS = "\u002d\u00ad\u2010\u2011\u2012"
_JOIN = re.compile(rf"(\w)[{_HYPHENS}]\s*(\w)")
_WORD = re.compile(r"\w+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d+[.)])\s+(.*\S)\s*$")
_MARKER = re.compile(r"\[(\d+)\]")


# -- text matching ---------------------------------------------------------
def words(text: str) -> list[str]:
    """Lowercased words, hyphen/line-break-insensitive, punctuation stripped."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("\u00ad", "")
    text = _JOIN.sub(r"\1\2", text)
    return _WORD.findall(text)


def ngrams(tokens: list[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    n = min(n, len(tokens))
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)] if n else []


def coverage(needle: str, haystack: str, n: int = NGRAM) -> float:
    """Share of the needle's word n-grams (n shrinks for needles shorter than n words) found in the haystack."""
    needle_words = words(needle)
    grams = ngrams(needle_words, n)
    if not grams:
        return 0.0
    size = len(grams[0])
    hay = set(ngrams(words(haystack), size)) if len(words(haystack)) >= size else set()
    return sum(g in hay for g in grams) / len(grams)


def contains_evidence(text: str, evidence: str, threshold: float = THRESHOLD) -> bool:
    """The text holds (most of) the gold evidence."""
    return bool(evidence.strip()) and coverage(evidence, text) >= threshold


def quote_matches_evidence(quote: str, evidence: str, threshold: float = THRESHOLD) -> bool:
    """The cited quote contains the evidence, or (for a quote shorter than the evidence) is a piece of it."""
    if not evidence.strip() or not quote.strip():
        return False
    if coverage(evidence, quote) >= threshold:
        return True
    qw, ew = len(words(quote)), len(words(evidence))
    return SHORT_QUOTE_MIN_WORDS <= qw < ew and coverage(quote, evidence) >= threshold


def same_document(source: str | None, gold: str | None) -> bool:
    if not source or not gold:
        return False
    source, gold = source.replace("\\", "/").strip("/"), gold.replace("\\", "/").strip("/")
    return source == gold or source.endswith("/" + gold) or gold.endswith("/" + source)


def is_pdf(source: str | None) -> bool:
    return bool(source) and source.lower().endswith(".pdf")


# -- per-question scoring ---------------------------------------------------
def gold_locations(item: dict) -> list[dict]:
    """Where the documents state the gold fact: the item's own `doc`/`page`/`evidence`, then any `also`
    entries (the same fact stated elsewhere, e.g. a paragraph that two reports share), each
    {doc, page, evidence}."""
    main = {"doc": item.get("doc"), "page": item.get("page"), "evidence": item.get("evidence", "")}
    return [main] + [dict(a) for a in item.get("also") or []]


def retrieval_rank(passages: list[dict], locations: list[dict]) -> int | None:
    """1-based rank of the first passage that holds the gold evidence in its document, else None."""
    for i, p in enumerate(passages, 1):
        for loc in locations:
            if same_document(p.get("source"), loc["doc"]) and contains_evidence(p.get("text", ""), loc["evidence"]):
                return i
    return None


def cites_gold(source: str | None, quote: str, locations: list[dict]) -> dict | None:
    """The gold location that a quote from `source` states, if any."""
    for loc in locations:
        if same_document(source, loc["doc"]) and quote_matches_evidence(quote, loc["evidence"]):
            return loc
    return None


def cited_bullets(answer_text: str, citations: list[dict]) -> int:
    """Distinct bullet lines of a briefing that carry at least one valid citation marker."""
    valid = {c.get("n") for c in citations}
    seen = set()
    for line in answer_text.splitlines():
        m = _BULLET.match(line)
        if not m:
            continue
        markers = {int(x) for x in _MARKER.findall(m.group(1))}
        if markers & valid:
            seen.add(" ".join(words(_MARKER.sub("", m.group(1)))))
    return len(seen)


def keyword_check(answer_text: str, keywords: Iterable[str]) -> tuple[list[str], list[str]]:
    text = " ".join((answer_text or "").casefold().split())
    found, missing = [], []
    for k in keywords:
        (found if " ".join(k.casefold().split()) in text else missing).append(k)
    return found, missing


def check_citations(item: dict, citations: list[dict], page_text: PageText) -> dict[str, Any]:
    """Evidence cited?  Every quote verbatim on its page?  Pages present (and right, for PDFs)?"""
    locations = gold_locations(item)
    matched = [(c, cites_gold(c.get("source"), c.get("quote", ""), locations)) for c in citations]
    matching = [c for c, loc in matched if loc is not None]
    verbatim, not_verbatim, page_errors = [], [], []
    for c in citations:
        page = c.get("page")
        text = None
        if isinstance(page, int) and page >= 1:
            try:
                text = page_text(c.get("doc_id", ""), page)
            except Exception as exc:  # counted, not dropped: the quote is then not verified
                page_errors.append(f"[{c.get('n')}] {type(exc).__name__}: {exc}")
        ok = text is not None and c.get("quote", "") != "" and c["quote"] in text
        (verbatim if ok else not_verbatim).append(c.get("n"))
    pages_present = all(isinstance(c.get("page"), int) and c["page"] >= 1 for c in citations)
    page_correct = None
    judged = [(c, loc) for c, loc in matched if loc is not None and is_pdf(loc["doc"]) and loc.get("page") is not None]
    if judged:
        page_correct = any(c.get("page") == loc["page"] for c, loc in judged)
    return {
        "n_citations": len(citations),
        "evidence_cited": bool(matching),
        "evidence_citations": [c.get("n") for c in matching],
        "quotes_verbatim": len(verbatim),
        "quotes_not_verbatim": not_verbatim,
        "page_errors": page_errors,
        "pages_present": pages_present if citations else None,
        "pages_missing": [c.get("n") for c in citations if not (isinstance(c.get("page"), int) and c["page"] >= 1)],
        "page_correct": page_correct,
    }


def score(item: dict, answer: dict | None, latency_ms: float | None = None, error: str | None = None,
          page_text: PageText = lambda doc_id, page: None, status: int | None = None) -> dict[str, Any]:
    """One report row. `answer` is an Answer as a dict (None when the call failed: `error` says why)."""
    row: dict[str, Any] = {
        "id": item["id"], "lang": item["lang"], "kind": item["kind"], "answerable": bool(item["answerable"]),
        "question": item["question"], "doc": item.get("doc"), "page": item.get("page"),
        "error": error, "status": status, "latency_ms": latency_ms,
    }
    if answer is None and error is None:
        row["error"] = error = "no answer returned"
    if error is not None or answer is None:
        row.update(refused=None, retrieval_rank=None, citation_checks=None, keywords_found=[],
                   keywords_missing=list(item.get("keywords", [])), briefing_bullets=0 if item["kind"] == "briefing" else None,
                   answer=None, citations=[], passages=[], server_timings_ms={}, generator=None, question_language=None)
        return row
    citations = answer.get("citations") or []
    passages = answer.get("passages") or []
    found, missing = keyword_check(answer.get("answer", ""), item.get("keywords", []))
    row.update(
        refused=bool(answer.get("refused")),
        retrieval_rank=retrieval_rank(passages, gold_locations(item)) if item["answerable"] else None,
        citation_checks=check_citations(item, citations, page_text),
        keywords_found=found,
        keywords_missing=missing,
        briefing_bullets=cited_bullets(answer.get("answer", ""), citations) if item["kind"] == "briefing" else None,
        answer=answer.get("answer"),
        citations=citations,
        passages=passages,
        server_timings_ms=answer.get("timings_ms") or {},
        generator=answer.get("generator"),
        question_language=answer.get("question_language"),
    )
    return row


# -- aggregation -------------------------------------------------------------
def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def refusal_counts(rows: list[dict]) -> dict[str, Any]:
    """An errored row always counts as the wrong decision (a missed refusal, or a false refusal)."""
    tp = fp = fn = answerable = unanswerable = 0
    for r in rows:
        failed = r.get("error") is not None
        if r["answerable"]:
            answerable += 1
            if failed or r.get("refused"):
                fp += 1
        else:
            unanswerable += 1
            if not failed and r.get("refused"):
                tp += 1
            else:
                fn += 1
    return {
        "refusal_precision": tp / (tp + fp) if tp + fp else None,
        "refusal_recall": tp / unanswerable if unanswerable else None,
        "false_refusal_rate": fp / answerable if answerable else None,
        "true_refusals": tp, "false_refusals": fp, "missed_refusals": fn,
    }


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Every headline metric over a list of rows (None where there is nothing to measure)."""
    answerable = [r for r in rows if r["answerable"]]
    ranks = [r.get("retrieval_rank") for r in answerable]
    checks = [r.get("citation_checks") for r in rows if r.get("citation_checks")]
    n_cit = sum(c["n_citations"] for c in checks)
    verbatim = sum(c["quotes_verbatim"] for c in checks)
    pages_ok = sum(c["n_citations"] - len(c["pages_missing"]) for c in checks)
    page_correct = [c["page_correct"] for c in checks if c["page_correct"] is not None]
    with_kw = [r for r in answerable if r["keywords_found"] or r["keywords_missing"]]
    kw_total = sum(len(r["keywords_found"]) + len(r["keywords_missing"]) for r in with_kw)
    briefings = [r["briefing_bullets"] for r in rows if r["kind"] == "briefing"]
    latencies = [r["latency_ms"] for r in rows if r.get("error") is None and r.get("latency_ms") is not None]
    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(answerable),
        "errors": sum(r.get("error") is not None for r in rows),
        "non_200": sum(r.get("status") not in (None, 200) for r in rows),
    }
    for k in KS:
        out[f"hit@{k}"] = _rate([rank is not None and rank <= k for rank in ranks])
    out["mrr"] = sum(1.0 / r for r in ranks if r) / len(ranks) if ranks else None
    out["evidence_cited"] = _rate([bool(r.get("citation_checks") and r["citation_checks"]["evidence_cited"]) for r in answerable])
    answered = [r for r in answerable if r.get("error") is None and not r.get("refused")]
    out["evidence_cited_when_answered"] = _rate([bool(r["citation_checks"]["evidence_cited"]) for r in answered])
    out["citations"] = n_cit
    out["quote_verbatim"] = verbatim / n_cit if n_cit else None
    out["page_present"] = pages_ok / n_cit if n_cit else None
    out["page_correct"] = _rate(page_correct)
    out["keyword_recall"] = sum(len(r["keywords_found"]) for r in with_kw) / kw_total if kw_total else None
    out["all_keywords"] = _rate([not r["keywords_missing"] for r in with_kw])
    out["briefing_bullets"] = sum(briefings) / len(briefings) if briefings else None
    out.update(refusal_counts(rows))
    out["latency_p50_ms"] = percentile(latencies, 50)
    out["latency_p95_ms"] = percentile(latencies, 95)
    out["latency_n"] = len(latencies)
    judged = [r["judge"] for r in rows if r.get("judge")]
    for key in ("faithfulness", "answer_relevancy"):
        values = [j[key] for j in judged if j.get(key) is not None]
        out[key] = sum(values) / len(values) if values else None
    return out


def breakdown(rows: list[dict], field: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r[field]), []).append(r)
    return {key: summarize(group) for key, group in sorted(groups.items())}


def row_quality(row: dict) -> float:
    """0 (worst) .. 1 (best): used to pick the worst questions for the report."""
    if row.get("error") is not None:
        return -1.0
    if not row["answerable"]:
        return 1.0 if row.get("refused") else 0.0
    rank = row.get("retrieval_rank")
    parts = [
        0.0 if row.get("refused") else 1.0,
        1.0 / rank if rank else 0.0,
        1.0 if row.get("citation_checks") and row["citation_checks"]["evidence_cited"] else 0.0,
    ]
    total_kw = len(row["keywords_found"]) + len(row["keywords_missing"])
    if total_kw:
        parts.append(len(row["keywords_found"]) / total_kw)
    return sum(parts) / len(parts)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
