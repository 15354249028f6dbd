"""Where a question's retrieval time goes: pyinstrument over `Assistant.retrieve` for the dev questions.

    python -m bench.profile_retrieve [--index-dir .povqa/index] [--lean] [--every 1]

Loads the index, asks 5 warm-up questions, then profiles `Assistant.retrieve(question, history, k=5)` for
every `--every`-th question of eval/dev.jsonl (what bench/langchain_baseline.py times) and prints
pyinstrument's call tree. `--lean` switches off the sparse latent terms and the second embedder (the lean
settings of the LangChain comparison). bench/RESULTS.md quotes its output for the missed latency target.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.settings import Settings
from eval.harness import load_dataset
from indexer.embedders import Embedder

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "dev.jsonl"


def run(index_dir: Path, lean: bool = False, every: int = 1, dataset: Path = DEV, warmup: int = 5,
        embedder: Embedder | None = None, second: Embedder | None | bool = True) -> str:
    from pyinstrument import Profiler

    from assistant.pipeline import Assistant

    settings = Settings(index_dir=index_dir)
    if lean:
        retrieval = settings.retrieval.model_copy(update={"sparse": "off", "second_embedder": None})
        settings = settings.model_copy(update={"retrieval": retrieval})
        second = None
    assistant = Assistant.load(settings, embedder=embedder, second=second, index_dir=index_dir)
    items = load_dataset(dataset)[::every]
    for item in items[:warmup]:
        assistant.retrieve(item["question"], item.get("history"), k=5)
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for item in items:
        assistant.retrieve(item["question"], item.get("history"), k=5)
    profiler.stop()
    return f"{len(items)} questions, {'lean' if lean else 'default'} settings\n" + profiler.output_text(
        unicode=False, color=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=Settings().index_dir)
    parser.add_argument("--lean", action="store_true")
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args(argv)
    print(run(args.index_dir, args.lean, args.every))


if __name__ == "__main__":
    main()
