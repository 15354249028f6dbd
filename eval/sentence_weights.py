"""How the extractive answerer should weigh a candidate sentence's features, measured on a development set.

For every answerable, non-briefing question, retrieval runs as in `ask` (history included) and
`assistant.sentences.candidate_sentences` lists the quotable sentences of the passages with their
features. A sentence is "gold" when it is from a gold document and holds that document's gold evidence
(`eval.metrics.cites_gold`, the rule the evaluation uses for cited evidence).
A grid of weights is searched on four folds and scored on the fifth; folds are grouped by question
stem, so a question's translations never straddle train and test. Reported: how often the gold
sentence is the top candidate and among the top three, cross-validated, next to the shipped weights.

    python -m eval.sentence_weights [eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from eval.calibrate import DEV, stem
from eval.harness import load_dataset
from eval.metrics import cites_gold, gold_locations

GRID = {
    "similarity": [1.0],
    "lexical": [0.4, 0.8, 1.2],
    "typed": [1.0, 1.5],
    "neighbour": [0.0, 0.2],
    "previous": [0.0, 0.2],
    "next": [0.0, 0.2],
    "first": [0.0, -0.3],
    "rank": [0.0, -0.2],
    "words": [0.0, 0.02],
    "chunk": [0.0],
}


def candidate_table(assistant, rows: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: a (sentences x features) matrix in `GRID` order and the gold labels."""
    from assistant.sentences import candidate_sentences

    out = []
    for row in rows:
        query, hits = assistant.retrieve(row["question"], row.get("history"))
        candidates = candidate_sentences(row["question"], query.language, hits, lexicon=assistant.retriever.lexicon)
        x = np.asarray([[s.features[name] for name in GRID] for s in candidates], dtype=np.float64).reshape(-1, len(GRID))
        locations = gold_locations(row)
        y = np.asarray([cites_gold(s.hit.document.source, s.text, locations) is not None for s in candidates], dtype=bool)
        out.append((x, y))
    return out


def hits_at(table: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> tuple[int, int]:
    """How many questions have the gold sentence first, and among the first three."""
    first = top3 = 0
    for x, y in table:
        if not len(y):
            continue
        order = np.argsort(-(x @ weights), kind="stable")
        first += bool(y[order[0]])
        top3 += bool(y[order[:3]].any())
    return first, top3


def study(path: Path = DEV, assistant=None, folds: int = 5) -> dict:
    from assistant.pipeline import Assistant

    rows = [r for r in load_dataset(path) if r["answerable"] and r.get("kind") != "briefing"]
    assistant = assistant or Assistant.load()
    shipped_weights = assistant.settings.answer.weights.model_dump()  # POVQA_ANSWER__WEIGHTS__*, or the defaults
    table = candidate_table(assistant, rows)
    grid = [np.asarray(w) for w in itertools.product(*GRID.values())]
    stems = sorted({stem(r["id"]) for r in rows})
    fold = np.asarray([stems.index(stem(r["id"])) % folds for r in rows])
    cv_first = cv_top3 = 0
    chosen = []
    for f in range(folds):
        train = [t for t, k in zip(table, fold) if k != f]
        test = [t for t, k in zip(table, fold) if k == f]
        best = max(grid, key=lambda w: sum(hits_at(train, w)))
        chosen.append(dict(zip(GRID, best.tolist())))
        a, b = hits_at(test, best)
        cv_first, cv_top3 = cv_first + a, cv_top3 + b
    shipped = np.asarray([shipped_weights[name] for name in GRID])
    first, top3 = hits_at(table, shipped)
    n = len(rows)
    return {
        "questions": n,
        "gold_among_candidates": sum(bool(y.any()) for _, y in table) / n,
        "cross_validated": {"first": cv_first / n, "top3": cv_top3 / n},
        "weights_per_fold": chosen,
        "shipped": {"weights": shipped_weights, "first": first / n, "top3": top3 / n},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEV)
    args = parser.parse_args(argv)
    result = study(args.dataset)
    print(f"{result['questions']} answerable questions; the gold sentence is a candidate for "
          f"{result['gold_among_candidates']:.3f}")
    print(f"cross-validated: first {result['cross_validated']['first']:.3f}, top 3 {result['cross_validated']['top3']:.3f}")
    for i, w in enumerate(result["weights_per_fold"]):
        print(f"  fold {i}: {w}")
    s = result["shipped"]
    print(f"shipped {s['weights']}: first {s['first']:.3f}, top 3 {s['top3']:.3f} (fitted on all of it)")


if __name__ == "__main__":
    main()
