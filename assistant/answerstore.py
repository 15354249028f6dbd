"""Answers the server gave, kept for a while (GET /api/answers/{id}, its exports, feedback), and the feedback on
them: one SQLite file beside the index (`Settings.answers_path`), in WAL mode so that several server processes
and threads can use it at once.

Answers older than `server.keep_answers_days` are deleted (at start-up and then at most hourly, as answers are
added). Feedback is not: each row holds its own copy of the question and answer, and the evaluation case made
from it (`assistant.feedback`), so it outlives the answer it rates.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from assistant.types import Answer

PRUNE_EVERY_S = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, created REAL NOT NULL, question TEXT NOT NULL, mode TEXT NOT NULL,
    history TEXT NOT NULL, collections TEXT NOT NULL, answer TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT PRIMARY KEY, created REAL NOT NULL, rating TEXT NOT NULL, comment TEXT NOT NULL,
    expected TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, eval_case TEXT, note TEXT NOT NULL);
"""


@dataclass
class KeptAnswer:
    id: str
    created: float
    question: str
    mode: str
    history: list[dict]
    collections: list[str]
    answer: Answer


def new_answer_id() -> str:
    return uuid.uuid4().hex


class AnswerStore:
    def __init__(self, path: Path, keep_days: float):
        self.path = Path(path)
        self.keep_s = keep_days * 86400.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        self._pruned = 0.0
        self.prune()

    # -- answers -------------------------------------------------------------------------------------
    def keep(self, question: str, answer: Answer, mode: str = "answer", history: list[dict] | None = None,
             collections: list[str] | None = None) -> Answer:
        """Store `answer` under a new id; returns it with that id."""
        kept = answer.model_copy(update={"id": new_answer_id()})
        with self._lock:
            self._db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (kept.id, time.time(), question, mode, json.dumps(history or [], ensure_ascii=False),
                              json.dumps(collections or [], ensure_ascii=False), kept.model_dump_json()))
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self.prune()
        return kept

    def get(self, answer_id: str) -> KeptAnswer | None:
        with self._lock:
            row = self._db.execute("SELECT id, created, question, mode, history, collections, answer FROM answers "
                                   "WHERE id = ? AND created >= ?", (answer_id, time.time() - self.keep_s)).fetchone()
        if row is None:
            return None
        id_, created, question, mode, history, collections, answer = row
        return KeptAnswer(id_, created, question, mode, json.loads(history), json.loads(collections),
                          Answer.model_validate_json(answer))

    def prune(self, now: float | None = None) -> int:
        """Delete the answers older than the age kept; returns how many."""
        cutoff = (now or time.time()) - self.keep_s
        with self._lock:
            deleted = self._db.execute("DELETE FROM answers WHERE created < ?", (cutoff,)).rowcount
        self._pruned = time.monotonic()
        return deleted

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM answers").fetchone()[0]

    # -- feedback ------------------------------------------------------------------------------------
    def add_feedback(self, kept: KeptAnswer, rating: str, comment: str, expected: str, case: dict | None,
                     note: str) -> bool:
        """Store the feedback on `kept` (a later one on the same answer replaces it); True if it replaced one."""
        with self._lock:
            replaced = self._db.execute("SELECT 1 FROM feedback WHERE answer_id = ?", (kept.id,)).fetchone()
            self._db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (kept.id, time.time(), rating, comment, expected, kept.question,
                              kept.answer.model_dump_json(), json.dumps(case, ensure_ascii=False) if case else None,
                              note))
        return replaced is not None

    def feedback_cases(self) -> tuple[list[dict], int]:
        """The evaluation cases of all feedback, oldest first, and how many feedbacks made none."""
        with self._lock:
            rows = self._db.execute("SELECT eval_case FROM feedback ORDER BY created, answer_id").fetchall()
        cases = [json.loads(case) for (case,) in rows if case]
        return cases, len(rows) - len(cases)

    def close(self) -> None:
        with self._lock:
            self._db.close()
