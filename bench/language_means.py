"""Build assistant/data/language_means.npz: the mean question vector per (embedder, language).

Centring a non-English question on its language's mean removes the offset the small
multilingual encoders add to every vector of that language (see assistant/scoring.py).
Sources, all topic-diverse general questions: XQuAD (en, es, de, zh, ar, hi: 1,190 each) and
assistant/data/question_samples (fr, pt, sw, bn: 120 translated XQuAD questions each).
Because the table is built from XQuAD, the XQuAD benchmark (eval/xquad.py) never uses it:
it cross-fits its own means on the other half of the questions.

    python -m bench.language_means [--data ../shared/bench/xquad]
"""

from __future__ import annotations

import argparse
from pathlib import Path


from assistant import scoring
from assistant.retrieval import LANGUAGE_MEANS_FILE, LanguageMeans
from assistant.settings import Settings
from eval.xquad import DEFAULT_DATA, load_xquad
from indexer.embedders import get_embedder

SAMPLES = Path(__file__).resolve().parent.parent / "assistant" / "data" / "question_samples"
XQUAD_LANGS = ["en", "es", "de", "zh", "ar", "hi"]  # en: only as the refusal reference, never centred


def question_sets(data_dir: Path) -> dict[str, list[str]]:
    sets = dict(load_xquad(data_dir, XQUAD_LANGS).questions)
    for path in sorted(SAMPLES.glob("*.txt")):
        sets[path.stem] = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    return sets


def build(data_dir: Path = DEFAULT_DATA) -> LanguageMeans:
    settings = Settings()
    primary = settings.get_embedder()
    second = get_embedder(settings.retrieval.second_embedder) if settings.retrieval.second_embedder else None
    means = LanguageMeans()
    for lang, questions in question_sets(data_dir).items():
        means.table[(primary.name, lang)] = primary.embed(questions, "query").mean(axis=0)
        if second is not None and scoring.use_weight(lang) > 0:
            means.table[(second.name, lang)] = second.embed(questions, "query").mean(axis=0)
        print(f"{lang}: {len(questions)} questions")
    return means


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    means = build(args.data)
    means.save(LANGUAGE_MEANS_FILE)
    print(f"wrote {LANGUAGE_MEANS_FILE} ({len(means.table)} vectors)")


if __name__ == "__main__":
    main()
