"""The frozen split of our own question set into a tuning part and a test part.

`eval/dev.jsonl` and `eval/holdout.jsonl` are pooled and split by question group (a question and its
translations: the id without its language suffix, `eval.calibrate.stem`), so no translation of a test question
is ever tuned on. The split is a seeded hash of the group's name: deterministic, independent of the order of
the files, and a new group falls on its side without moving any other. The test ids are written to
`eval/test_ids.txt` (the frozen list, committed) and the two parts to `eval/tuning.jsonl` and `eval/test.jsonl`,
which `povqa eval` and `povqa calibrate` read like any set:

    python -m eval.split            # rewrite the parts (a new group falls on its side; none moves)
    povqa eval eval/test.jsonl      # the test part: report it, never tune on its misses
    povqa eval eval/tuning.jsonl

tests/test_eval.py checks that the committed parts are this split of the current sources (frozen: changing the
seed or the share would move questions, and the test would fail).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eval.calibrate import stem
from eval.harness import load_dataset

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "eval" / "dev.jsonl", ROOT / "eval" / "holdout.jsonl"]
TEST_IDS = ROOT / "eval" / "test_ids.txt"
TUNING, TEST = ROOT / "eval" / "tuning.jsonl", ROOT / "eval" / "test.jsonl"
SEED = "issue-17"
TEST_SHARE = 0.4


def in_test(group: str, seed: str = SEED, share: float = TEST_SHARE) -> bool:
    """Whether a question group falls in the test part by the seeded hash."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split(sources: list[Path] = SOURCES) -> tuple[list[dict], list[dict]]:
    """(tuning rows, test rows) of the pooled sources, by the seeded hash of each question's group."""
    rows = [row for path in sources for row in load_dataset(path)]
    return [r for r in rows if not in_test(stem(r["id"]))], [r for r in rows if in_test(stem(r["id"]))]


def write(tuning: list[dict], test: list[dict]) -> None:
    for path, rows in ((TUNING, tuning), (TEST, test)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    TEST_IDS.write_text("".join(f"{r['id']}\n" for r in test), "utf-8")


def main() -> None:
    tuning, test = split()
    write(tuning, test)
    print(f"tuning: {len(tuning)} questions, {len({stem(r['id']) for r in tuning})} groups; "
          f"test: {len(test)} questions, {len({stem(r['id']) for r in test})} groups")


if __name__ == "__main__":
    main()
