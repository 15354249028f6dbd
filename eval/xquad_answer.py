"""XQuAD as an answering task: does povqa answer what its documents hold, and refuse what they do not?

The English XQuAD paragraphs are indexed as notes through `build_index` (as users' files are), except a fixed,
seeded fifth of them: the questions about a left-out paragraph are unanswerable, while the sibling paragraphs
of the same article (same subject, same names) are in the index, so a retriever always finds something close.
Every question of every language is asked through `Assistant.ask` (or a server's /api/ask with `url`) and
scored per language:

- `cited`: of the answerable questions povqa answered, the share with a citation from the gold paragraph whose
  quote holds a gold answer span (whitespace and case normalised); `cited_all`: the same over every answerable
  question (a refusal counts as a miss);
- `answerable_refused`, `unanswerable_refused`: the share of each kind that was refused;
- `top5`: the share of answerable questions whose gold paragraph is among the first five passages returned.

The index is cached in the output folder under a key of the left-out set, so reruns embed nothing.

    povqa eval xquad --answer [--langs en es] [--limit 100] [--report DIR]
    python -m eval.xquad_answer [--langs ...] [--limit N] [--out DIR] [--url http://host:port]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.xquad import DEFAULT_DATA, LANGS, ROOT, XQuAD, load_xquad

#: The seed of the left-out fifth of paragraphs (fixed: every run and every version leaves out the same ones).
SEED = 17
LEFT_OUT_SHARE = 0.2
DEFAULT_OUT = ROOT / "bench" / "out" / "xquad_answer"
METRICS = ("cited", "cited_all", "answerable_refused", "unanswerable_refused", "top5")


@dataclass
class Case:
    """One question of the task: its text, its language, its gold paragraph and answer spans."""

    index: int  # position in XQuAD's question order (the same across languages)
    lang: str
    question: str
    paragraph: int
    answers: list[str]
    answerable: bool
    article: int


def left_out_paragraphs(n_paragraphs: int, seed: int = SEED, share: float = LEFT_OUT_SHARE) -> list[int]:
    """The paragraphs not indexed: a fixed, seeded `share` of them (sorted)."""
    rng = np.random.default_rng(seed)
    k = int(round(n_paragraphs * share))
    return sorted(int(i) for i in rng.choice(n_paragraphs, size=k, replace=False))


def gold_answers(data_dir: Path) -> list[list[str]]:
    """The English answer spans of every question, in XQuAD's order."""
    english = json.loads((data_dir / "xquad.en.json").read_text("utf-8"))["data"]
    return [[a["text"] for a in qa["answers"]] for article in english for para in article["paragraphs"]
            for qa in para["qas"]]


def cases(data: XQuAD, answers: list[list[str]], left_out: list[int], lang: str,
          limit: int | None = None, seed: int = SEED, articles: str = "all") -> list[Case]:
    """The questions of `lang`, all of them or a seeded sample of `limit` (the same positions in every language);
    `articles` "even" or "odd": only the questions of even- or odd-numbered articles (the refusal model is
    fitted on even ones, eval/refusal_fit.py)."""
    out = set(left_out)
    parity = {"all": None, "even": 0, "odd": 1}[articles]
    order = [i for i in range(len(data.gold)) if parity is None or data.article_of[data.gold[i]] % 2 == parity]
    if limit is not None and limit < len(order):
        order = sorted(order[i] for i in np.random.default_rng(seed + 1).permutation(len(order))[:limit])
    return [Case(i, lang, data.questions[lang][i], data.gold[i], answers[i], data.gold[i] not in out,
                 data.article_of[data.gold[i]]) for i in order]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def paragraph_of(source: str) -> int | None:
    """The paragraph a note holds, from its file name (p042.txt -> 42)."""
    match = re.fullmatch(r"p(\d+)", Path(source).stem)
    return int(match.group(1)) if match else None


def score_answer(case: Case, answer: dict) -> dict:
    """One question's outcome from an answer in the public shape (`Answer.model_dump()` or /api/ask's JSON)."""
    refused = bool(answer.get("refused"))
    spans = [normalise(a) for a in case.answers if a.strip()]
    cited = (not refused) and case.answerable and any(
        paragraph_of(c.get("source", "")) == case.paragraph and any(s in normalise(c.get("quote", "")) for s in spans)
        for c in answer.get("citations") or [])
    top = [paragraph_of(p.get("source", "")) for p in (answer.get("passages") or [])[:5]]
    return {"index": case.index, "lang": case.lang, "answerable": case.answerable, "refused": refused,
            "cited": cited, "top5": case.answerable and case.paragraph in top, "article": case.article}


def summarise(rows: list[dict]) -> dict[str, float]:
    """The five shares (see the module's docstring) over `rows` of `score_answer`; nan where nothing counts."""
    def share(flags: list[bool]) -> float:
        return float(np.mean(flags)) if flags else float("nan")

    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["refused"]]
    return {
        "cited": share([r["cited"] for r in answered]),
        "cited_all": share([r["cited"] for r in answerable]),
        "answerable_refused": share([r["refused"] for r in answerable]),
        "unanswerable_refused": share([r["refused"] for r in unanswerable]),
        "top5": share([r["top5"] for r in answerable]),
        "questions": len(rows),
        "unanswerable": len(unanswerable),
    }


def build(data: XQuAD, left_out: list[int], out: Path, settings_for):
    """Index the paragraphs not left out (incremental: a rerun with the same left-out set embeds nothing)."""
    from indexer.build import build_index

    key = hashlib.sha1(",".join(map(str, left_out)).encode()).hexdigest()[:10]
    folder = out / f"index-{key}"
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    skip = set(left_out)
    for i, text in enumerate(data.paragraphs):
        path = corpus / f"p{i:03d}.txt"
        if i in skip:
            path.unlink(missing_ok=True)
        elif not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
    settings = settings_for(folder / "index")
    return settings, build_index([corpus], settings.build_settings())


def _asker(settings, url: str | None, api_key: str | None):
    """A function from a language's questions to their answers (dicts in the public shape)."""
    if url:
        from eval.harness import HttpTarget

        target = HttpTarget(url, api_key)
        return lambda questions: [target.ask(q, None, "answer") for q in questions]
    from assistant.pipeline import Assistant

    assistant = Assistant.load(settings)
    return lambda questions: ask_batched(assistant, questions)


@contextmanager
def batched(retriever, questions: list[str]):
    """While inside, `retriever.prepare` returns the queries of `questions` embedded beforehand in batches
    (`prepare_batch`, what `prepare` does one at a time): the same queries, several times faster on a CPU."""
    prepared = dict(zip(questions, retriever.prepare_batch(questions)))
    single = retriever.prepare

    def prepare(question, context=None, language=None):
        query = prepared.pop(question, None) if context is None else None
        if query is None or (language is not None and query.language != language):
            return single(question, context, language)
        return query

    retriever.prepare = prepare
    try:
        yield
    finally:
        retriever.prepare = single


def ask_batched(assistant, questions: list[str]) -> list[dict]:
    """`assistant.ask` for each question (see `batched`)."""
    with batched(assistant.retriever, questions):
        return [assistant.ask(q).model_dump(mode="json") for q in questions]


def run(data_dir: Path = DEFAULT_DATA, langs: list[str] | None = None, out: Path = DEFAULT_OUT,
        limit: int | None = None, url: str | None = None, api_key: str | None = None, log=print,
        articles: str = "all") -> dict:
    """Ask every (or `limit` per language) question of `langs`; rows and summaries in `out`/answer.json."""
    from assistant.settings import Settings

    langs = langs or LANGS
    data = load_xquad(data_dir, langs)
    answers = gold_answers(data_dir)
    left_out = left_out_paragraphs(len(data.paragraphs))
    t0 = time.perf_counter()
    settings, report = build(data, left_out, out, lambda index_dir: Settings(index_dir=index_dir))
    log(f"index: {report.documents} of {len(data.paragraphs)} paragraphs ({len(left_out)} left out), "
        f"{report.chunks} chunks, {report.embedded_chunks} embedded ({time.perf_counter() - t0:.0f}s)")
    ask = _asker(settings, url, api_key)
    rows, results = [], {}
    for lang in langs:
        t1 = time.perf_counter()
        chosen = cases(data, answers, left_out, lang, limit, articles=articles)
        lang_rows = [score_answer(case, answer) for case, answer in zip(chosen, ask([c.question for c in chosen]))]
        rows += lang_rows
        results[lang] = {**summarise(lang_rows), "seconds": round(time.perf_counter() - t1, 1)}
        r = results[lang]
        log(f"{lang}: cited {r['cited']:.3f}, answerable refused {r['answerable_refused']:.3f}, unanswerable "
            f"refused {r['unanswerable_refused']:.3f}, top5 {r['top5']:.3f} ({r['seconds']}s)")
    halves = {"even_articles": summarise([r for r in rows if r["article"] % 2 == 0]),
              "odd_articles": summarise([r for r in rows if r["article"] % 2 == 1])}
    outcome = {"results": results, "halves": halves, "left_out": left_out, "limit": limit, "articles": articles,
               "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "answer.json").write_text(json.dumps(outcome, indent=1), "utf-8")
    (out / "answer.md").write_text(markdown_table(results), "utf-8")
    return outcome


def markdown_table(results: dict) -> str:
    langs = list(results)
    labels = {"cited": "answered with the gold span cited", "cited_all": "answerable answered and cited",
              "answerable_refused": "answerable questions refused",
              "unanswerable_refused": "unanswerable questions refused", "top5": "gold paragraph in the top 5"}
    rows = ["| | " + " | ".join(langs) + " | mean |", "|---|" + "---|" * (len(langs) + 1)]
    for key in METRICS:
        values = [results[l][key] for l in langs]
        rows.append(f"| {labels[key]} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {np.nanmean(values):.2f} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--langs", nargs="+", default=LANGS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample of N questions per language")
    parser.add_argument("--url", default=None, help="ask a running server instead of in-process")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--articles", choices=("all", "even", "odd"), default="all",
                        help="only the questions of even- or odd-numbered articles (the refusal model saw even ones)")
    args = parser.parse_args(argv)
    outcome = run(args.data, args.langs, args.out, args.limit, args.url, args.api_key, articles=args.articles)
    print(markdown_table(outcome["results"]))


if __name__ == "__main__":
    main()
