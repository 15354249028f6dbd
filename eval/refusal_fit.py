"""Fit the refusal model on a large, varied set: our tuning part plus XQuAD answering questions in six languages.

Our own questions (eval/tuning.jsonl, never the test part) are asked against the docs_corpus index; the XQuAD
questions of even-numbered articles (a seeded sample per language) against the XQuAD answering index
(eval/xquad_answer.py: a fifth of the paragraphs left out, so their questions are unanswerable). The features
are `assistant.refusal.Calibration.features` (three on the cosine scale, four not). A logistic model with
balanced class weights, each source weighted equally, gives P(answerable); its threshold is chosen on
cross-validated probabilities (folds by XQuAD article and by our question group) as the one that refuses the
most unanswerable questions while no XQuAD language and not our set refuses more than `max_false_refusals` of
its answerable questions. Odd-numbered XQuAD articles are never seen: `povqa eval xquad --answer` reports them
apart ("odd_articles").

    python -m eval.refusal_fit --index-dir DOCS_INDEX [--per-lang 300] [--write]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eval.calibrate import fit_logistic, refusal_metrics, stem
from eval.harness import load_dataset
from eval.xquad import DEFAULT_DATA, LANGS, load_xquad
from eval.xquad_answer import DEFAULT_OUT, batched, build, cases, gold_answers, left_out_paragraphs

ROOT = Path(__file__).resolve().parent.parent
TUNING = ROOT / "eval" / "tuning.jsonl"
NAMES = ("cosine", "missing", "unstated", "sentence_z", "overlap", "agree", "margin")


def _features(assistant, text: str, history=None) -> tuple[float, ...]:
    from assistant.question import Question
    from assistant.refusal import Calibration

    question = Question.analyse(text)
    query, hits = assistant.retrieve(question, history)
    return Calibration.features(query, hits, assistant.retriever, question)


def own_rows(index_dir: Path, path: Path = TUNING) -> dict:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings

    assistant = Assistant.load(Settings(index_dir=index_dir))
    rows = load_dataset(path)
    with batched(assistant.retriever, [r["question"] for r in rows if not r.get("history")]):
        x = [_features(assistant, r["question"], r.get("history")) for r in rows]
    return {"x": x,
            "y": [r["answerable"] for r in rows], "lang": [r["lang"] for r in rows],
            "group": [f"own:{stem(r['id'])}" for r in rows], "source": ["own"] * len(rows)}


def xquad_rows(per_lang: int | None, data_dir: Path = DEFAULT_DATA, out: Path = DEFAULT_OUT, parity: int = 0) -> dict:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings

    data = load_xquad(data_dir, LANGS)
    left_out = left_out_paragraphs(len(data.paragraphs))
    settings, _ = build(data, left_out, out, lambda index_dir: Settings(index_dir=index_dir))
    assistant = Assistant.load(settings)
    answers = gold_answers(data_dir)
    rows: dict = {"x": [], "y": [], "lang": [], "group": [], "source": []}
    for lang in LANGS:
        chosen = [c for c in cases(data, answers, left_out, lang) if c.article % 2 == parity]
        if per_lang is not None and per_lang < len(chosen):
            pick = np.random.default_rng(23).permutation(len(chosen))[:per_lang]
            chosen = [chosen[i] for i in sorted(pick)]
        with batched(assistant.retriever, [c.question for c in chosen]):
            features = [_features(assistant, c.question) for c in chosen]
        for case, x in zip(chosen, features):
            rows["x"].append(x)
            rows["y"].append(case.answerable)
            rows["lang"].append(lang)
            rows["group"].append(f"xquad:{case.article}")
            rows["source"].append(f"xquad-{lang}")
    return rows


def _predict(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + x @ beta[1:])))


def fit(rows: dict, folds: int = 5, max_false_refusals: float = 0.05, l2: float = 1e-2) -> dict:
    x = np.asarray(rows["x"], dtype=np.float64)
    y = np.asarray(rows["y"], dtype=np.float64)
    source = np.asarray(rows["source"])
    groups = sorted(set(rows["group"]))
    fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(5).permutation(groups))}
    fold = np.asarray([fold_of[g] for g in rows["group"]])
    oof = np.zeros(len(y))
    for f in range(folds):
        beta = fit_logistic(x[fold != f], y[fold != f], l2=l2)
        oof[fold == f] = _predict(beta, x[fold == f])
    beta = fit_logistic(x, y, l2=l2)
    answerable = y == 1
    sources = sorted(set(source))

    def per_source(t: float) -> dict:
        return {s: refusal_metrics((oof < t)[source == s], answerable[source == s]) for s in sources}

    best, chosen = None, 0.05
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        m = per_source(t)
        if max(v["false_refusal_rate"] for v in m.values()) > max_false_refusals + 1e-12:
            continue
        recall = float(np.mean([v["refusal_recall"] for v in m.values()]))
        if best is None or recall > best:
            best, chosen = recall, float(t)
    return {
        "bias": float(beta[0]),
        "w_cosine": float(beta[1]), "w_missing": float(beta[2]), "w_unstated": float(beta[3]),
        "w_extra": {name: float(w) for name, w in zip(NAMES[3:], beta[4:])},
        "threshold": chosen,
        "max_false_refusals": max_false_refusals,
        "fitted_on": "eval/tuning.jsonl + XQuAD answering, even-numbered articles (eval/refusal_fit.py)",
        "questions": int(len(y)),
        "unanswerable": int((~answerable).sum()),
        "cross_validated_by_source": per_source(chosen),
    }


def _cached(path: Path, compute) -> dict:
    if path.exists():
        return json.loads(path.read_text("utf-8"))
    rows = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), "utf-8")
    return rows


def main(argv: list[str] | None = None) -> None:
    from assistant.refusal import CALIBRATION_FILE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True, help="the docs_corpus index (for the tuning part)")
    parser.add_argument("--per-lang", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=DEFAULT_OUT / "refusal_features.json",
                        help="the XQuAD features' file (computed once); ours go beside it")
    parser.add_argument("--max-false-refusals", type=float, default=0.05)
    parser.add_argument("--write", action="store_true", help=f"write the model to {CALIBRATION_FILE}")
    args = parser.parse_args(argv)
    own = _cached(args.cache.with_name("refusal_features_own.json"), lambda: own_rows(args.index_dir))
    xq = _cached(args.cache, lambda: xquad_rows(args.per_lang))
    rows = {k: own[k] + xq[k] for k in own}
    result = fit(rows, max_false_refusals=args.max_false_refusals)
    print(json.dumps(result, indent=2))
    if args.write:
        CALIBRATION_FILE.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
        print(f"written to {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
