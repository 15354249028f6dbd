"""Fit the refusal model (assistant/calibration.json) on a development set, and report how well it refuses.

For every question of the set, retrieval runs as in `ask` (history included) and gives the three
features of `assistant.refusal.Calibration` (best sentence cosine over the language's reference,
share of the question's key terms missing from the top passages, an amount of money or a rate asked
for and stated in none of them). A logistic
model with balanced class weights maps them to P(answerable); the assistant refuses below a threshold
chosen on cross-validated probabilities: the one that refuses the most unanswerable questions while
wrongly refusing at most 5 % of the answerable ones (`--max-false-refusals`). A false refusal hides an
answer the documents hold; a missed refusal still shows its cited quotes, which the reader can check.
Refusal precision / recall are cross-validated: 5 folds grouped by question stem (the same
question in several languages stays in one fold), so no score is measured on what it was fitted on.

    python -m eval.calibrate [eval/dev.jsonl] [--write]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from eval.harness import load_dataset

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "dev.jsonl"


def stem(row_id: str) -> str:
    return re.sub(r"-[a-z]{2}$", "", row_id)


def features(assistant, rows: list[dict]) -> np.ndarray:
    from assistant.pipeline import Calibration

    out = []
    for row in rows:
        query, hits = assistant.retrieve(row["question"], row.get("history"))
        out.append(Calibration.features(query, hits, assistant.retriever))
    return np.asarray(out, dtype=np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 100) -> np.ndarray:
    """Balanced-weight logistic regression by Newton's method; returns [bias, w1, w2, ...]."""
    X = np.hstack([np.ones((len(x), 1)), x])
    weights = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-X @ beta))
        gradient = X.T @ (weights * (p - y)) + l2 * np.r_[0, beta[1:]]
        hessian = (X * (weights * p * (1 - p))[:, None]).T @ X + l2 * np.diag(np.r_[0, np.ones(len(beta) - 1)])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def refusal_metrics(refused: np.ndarray, answerable: np.ndarray) -> dict[str, float]:
    unanswerable = ~answerable
    true_refusals = np.sum(refused & unanswerable)
    return {
        "refusal_precision": float(true_refusals / max(refused.sum(), 1)),
        "refusal_recall": float(true_refusals / max(unanswerable.sum(), 1)),
        "false_refusal_rate": float(np.sum(refused & answerable) / max(answerable.sum(), 1)),
    }


MAX_FALSE_REFUSALS = 0.05
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)


def choose_threshold(curve: dict[str, dict[str, float]], max_false_refusals: float = MAX_FALSE_REFUSALS) -> str:
    """The threshold with the highest refusal recall whose false-refusal rate stays within the bound; among
    equals, the fewest false refusals, then the middle of the tied range. With none within the bound, the
    threshold with the fewest false refusals (the lowest such one)."""
    keys = sorted(curve, key=float)
    eligible = [t for t in keys if curve[t]["false_refusal_rate"] <= max_false_refusals + 1e-12]
    if not eligible:
        fewest = min(curve[t]["false_refusal_rate"] for t in keys)
        return next(t for t in keys if curve[t]["false_refusal_rate"] == fewest)
    best = max((curve[t]["refusal_recall"], -curve[t]["false_refusal_rate"]) for t in eligible)
    tied = [t for t in eligible if (curve[t]["refusal_recall"], -curve[t]["false_refusal_rate"]) == best]
    return tied[len(tied) // 2]


def calibrate(path: Path = DEV, assistant=None, folds: int = 5, max_false_refusals: float = MAX_FALSE_REFUSALS) -> dict:
    from assistant.pipeline import Assistant

    rows = load_dataset(path)
    assistant = assistant or Assistant.load()
    x = features(assistant, rows)
    y = np.asarray([1.0 if r["answerable"] else 0.0 for r in rows])
    stems = sorted({stem(r["id"]) for r in rows})
    fold_of_stem = {s: i % folds for i, s in enumerate(stems)}
    fold = np.asarray([fold_of_stem[stem(r["id"])] for r in rows])
    oof = np.zeros(len(rows))
    for f in range(folds):
        beta = fit_logistic(x[fold != f], y[fold != f])
        oof[fold == f] = 1 / (1 + np.exp(-(beta[0] + x[fold == f] @ beta[1:])))
    beta = fit_logistic(x, y)
    answerable = y == 1
    # The threshold is chosen on the out-of-fold probabilities, within the false-refusal bound.
    curve = {}
    for t in THRESHOLDS:
        m = refusal_metrics(oof < t, answerable)
        p, r = m["refusal_precision"], m["refusal_recall"]
        curve[f"{t:.2f}"] = {**m, "refusal_f1": 2 * p * r / (p + r) if p + r else 0.0}
    chosen = choose_threshold(curve, max_false_refusals)
    threshold = float(chosen)
    metrics = curve[chosen]
    by_lang = {}
    for lang in sorted({r["lang"] for r in rows}):
        mask = np.asarray([r["lang"] == lang for r in rows])
        by_lang[lang] = refusal_metrics((oof < threshold)[mask], answerable[mask])
    return {
        "bias": float(beta[0]),
        "w_cosine": float(beta[1]),
        "w_missing": float(beta[2]),
        "w_unstated": float(beta[3]),
        "threshold": threshold,
        "max_false_refusals": max_false_refusals,
        "fitted_on": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "questions": len(rows),
        "unanswerable": int((~answerable).sum()),
        "cross_validated": metrics,
        "cross_validated_by_language": by_lang,
        "cross_validated_by_threshold": curve,
    }


def main(argv: list[str] | None = None) -> None:
    from assistant.refusal import calibration_path
    from assistant.settings import Settings

    target = calibration_path(Settings())  # POVQA_REFUSAL__CALIBRATION_FILE, or the shipped file
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", nargs="?", type=Path, default=DEV)
    parser.add_argument("--write", action="store_true", help=f"write the fitted model to {target}")
    parser.add_argument("--max-false-refusals", type=float, default=MAX_FALSE_REFUSALS,
                        help="highest cross-validated share of answerable questions that may be refused (default 0.05)")
    args = parser.parse_args(argv)
    result = calibrate(args.dataset, max_false_refusals=args.max_false_refusals)
    print(json.dumps(result, indent=2))
    if args.write:
        target.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
        print(f"written to {target}")


if __name__ == "__main__":
    main()
