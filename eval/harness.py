"""`povqa eval`: run a question set against the assistant (in-process or over HTTP) and score it.

    povqa eval eval/dev.jsonl                                   # in-process, Settings() from the environment
    povqa eval eval/dev.jsonl --url http://127.0.0.1:8000 --api-key K
    povqa eval eval/dev.jsonl --compare configs/dense.json configs/hybrid.json configs/llm.json
    povqa eval xquad --data ../shared/bench/xquad --langs en es zh

Scoring lives in eval/metrics.py, the report (report.json, report.md, PNG plots) in eval/report.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval import metrics

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("fact", "explain", "followup", "briefing", "unanswerable")


class DatasetError(ValueError):
    """A dataset line is malformed; the message names file:line and the field."""


# -- dataset -------------------------------------------------------------------
def _check(path: Path, n: int, row: Any, seen: dict[str, int]) -> dict:
    def bad(field_name: str, why: str) -> DatasetError:
        return DatasetError(f"{path}:{n}: field '{field_name}': {why}")

    if not isinstance(row, dict):
        raise DatasetError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
    for name, kind in (("id", str), ("lang", str), ("question", str), ("kind", str)):
        if name not in row:
            raise bad(name, "missing")
        if not isinstance(row[name], kind) or not row[name].strip():
            raise bad(name, "must be a non-empty string")
    if row["id"] in seen:
        raise bad("id", f"duplicate id {row['id']!r} (first on line {seen[row['id']]})")
    if row["kind"] not in KINDS:
        raise bad("kind", f"{row['kind']!r} is not one of {', '.join(KINDS)}")
    if "answerable" not in row:
        raise bad("answerable", "missing")
    if not isinstance(row["answerable"], bool):
        raise bad("answerable", "must be true or false")
    if row["kind"] == "unanswerable" and row["answerable"]:
        raise bad("answerable", "kind 'unanswerable' with answerable true")
    if row["answerable"]:
        if not isinstance(row.get("doc"), str) or not row["doc"].strip():
            raise bad("doc", "an answerable question needs the gold document (its source path)")
        if not isinstance(row.get("evidence"), str) or not row["evidence"].strip():
            raise bad("evidence", "an answerable question needs the verbatim gold evidence")
    else:
        if row.get("doc") is not None and not isinstance(row["doc"], str):
            raise bad("doc", "must be a string or null")
        if row.get("evidence") is not None and not isinstance(row["evidence"], str):
            raise bad("evidence", "must be a string")
    also = row.get("also")
    if also is not None:
        if not row["answerable"] or not isinstance(also, list):
            raise bad("also", "must be a list of {doc, page, evidence}, and only on an answerable question")
        for i, loc in enumerate(also):
            if (not isinstance(loc, dict) or set(loc) != {"doc", "page", "evidence"}
                    or not all(isinstance(loc[k], str) and loc[k].strip() for k in ("doc", "evidence"))
                    or not isinstance(loc["page"], int) or isinstance(loc["page"], bool) or loc["page"] < 1):
                raise bad("also", f"entry {i} must be {{\"doc\": str, \"page\": int >= 1, \"evidence\": str}}")
    page = row.get("page")
    if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
        raise bad("page", "must be an integer >= 1 or null")
    keywords = row.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise bad("keywords", "must be a list of non-empty strings")
    if "answer" in row and not isinstance(row["answer"], str):
        raise bad("answer", "must be a string")
    history = row.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise bad("history", "must be a list of {role, content} turns")
        for i, turn in enumerate(history):
            if (not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant")
                    or not isinstance(turn.get("content"), str)):
                raise bad(f"history[{i}]", "each turn needs role 'user' or 'assistant' and a string content")
    seen[row["id"]] = n
    return {**row, "evidence": row.get("evidence") or "", "keywords": keywords, "page": page}


def load_dataset(path: Path) -> list[dict]:
    """Read and validate a JSONL question set; raises DatasetError naming file:line and the field."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    rows, seen = [], {}
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        rows.append(_check(path, n, data, seen))
    if not rows:
        raise DatasetError(f"{path}: no questions")
    return rows


# -- targets: something that answers ---------------------------------------------------
class CallError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InProcessTarget:
    """Assistant.load(settings) in this process; page text straight from the index reader."""

    def __init__(self, settings=None, assistant=None):
        if assistant is None:
            from assistant.pipeline import Assistant
            from assistant.settings import Settings

            assistant = Assistant.load(settings or Settings())
        self.assistant = assistant
        self.settings = assistant.settings
        self.name = f"in-process ({assistant.answerer.name})"

    def ask(self, question: str, history: list[dict] | None, mode: str) -> dict:
        return self.assistant.ask(question, history or None, mode).model_dump(mode="json")

    def page_text(self, doc_id: str, page: int) -> str | None:
        return self.assistant.retriever.reader.page_text(doc_id, page)

    def close(self) -> None:
        pass


class HttpTarget:
    """A running `povqa serve`: POST /api/ask, GET /api/documents/{id}/pages/{n}."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0, client=None):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.name = f"HTTP {url}"
        self.settings = None
        self._pages: dict[tuple[str, int], str | None] = {}

    def ask(self, question: str, history: list[dict] | None, mode: str) -> dict:
        import httpx

        body: dict[str, Any] = {"question": question, "mode": mode}
        if history:
            body["history"] = history
        try:
            response = self.client.post("/api/ask", json=body)
        except httpx.HTTPError as exc:
            raise CallError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise CallError(f"HTTP {response.status_code}: {_detail(response)}", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise CallError(f"HTTP 200 but the body is not JSON: {response.text[:200]!r}", 200) from exc

    def page_text(self, doc_id: str, page: int) -> str | None:
        key = (doc_id, page)
        if key not in self._pages:
            response = self.client.get(f"/api/documents/{doc_id}/pages/{page}")
            if response.status_code == 404:
                self._pages[key] = None
            elif response.status_code != 200:
                raise CallError(f"GET page: HTTP {response.status_code}: {_detail(response)}", response.status_code)
            else:
                self._pages[key] = response.json().get("text")
        return self._pages[key]

    def close(self) -> None:
        self.client.close()


def _detail(response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:300]
    except ValueError:
        return response.text[:300]


# -- the judge (optional) --------------------------------------------------------------
FAITHFULNESS_PROMPT = """You check an answer against its cited quotes.
Split the ANSWER into its factual claims (ignore citation markers like [1]). For each claim say whether the QUOTES support it.
Reply with JSON only: {{"claims": <number of claims>, "supported": <number supported by the quotes>}}

QUOTES:
{quotes}

ANSWER:
{answer}"""

RELEVANCY_PROMPT = """Rate how directly the ANSWER addresses the QUESTION, ignoring whether it is true.
Reply with JSON only: {{"relevancy": <a number from 0 (off-topic) to 1 (answers exactly what was asked)>}}

QUESTION: {question}

ANSWER:
{answer}"""


def judge_available(settings) -> tuple[bool, str]:
    if settings is None:
        return False, "judge skipped: over HTTP the judge needs the LLM settings of this process (run in-process)"
    if settings.answerer != "llm" or not (settings.llm.base_url or settings.llm.gguf_path):
        return False, ("judge skipped: no LLM backend configured (set POVQA_ANSWERER=llm and POVQA_LLM__BASE_URL "
                       "or POVQA_LLM__GGUF_PATH to score faithfulness and answer relevancy)")
    return True, f"judge: {settings.llm.model} via {settings.llm.base_url or settings.llm.gguf_path}"


def _json_reply(text: str) -> dict:
    start, end = text.find("{"), text.rfind("}")
    return json.loads(text[start:end + 1]) if start >= 0 and end > start else {}


class Judge:
    """RAGAS-style scores by a chat model: faithfulness (claims supported by the cited quotes), answer relevancy."""

    def __init__(self, chat_model):
        self.chat_model = chat_model

    @classmethod
    def from_settings(cls, settings) -> "Judge":
        from assistant.llm import LLMAnswerer

        return cls(LLMAnswerer.from_settings(settings).chat_model)

    def _ask(self, prompt: str) -> dict:
        reply = self.chat_model.invoke([("human", prompt)])
        return _json_reply(str(getattr(reply, "content", reply)))

    def score(self, row: dict) -> dict | None:
        if row.get("error") or row.get("refused") or not row.get("answer"):
            return None
        out: dict[str, Any] = {}
        try:
            quotes = "\n".join(f"[{c['n']}] {c['quote']}" for c in row["citations"])
            f = self._ask(FAITHFULNESS_PROMPT.format(quotes=quotes or "(none)", answer=row["answer"]))
            claims = int(f.get("claims", 0))
            out["faithfulness"] = min(1.0, int(f.get("supported", 0)) / claims) if claims > 0 else None
            r = self._ask(RELEVANCY_PROMPT.format(question=row["question"], answer=row["answer"]))
            out["answer_relevancy"] = max(0.0, min(1.0, float(r["relevancy"]))) if "relevancy" in r else None
        except Exception as exc:  # a judge failure is recorded on the row, never fatal
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out


# -- running -----------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    target: str
    rows: list[dict] = field(default_factory=list)
    settings: dict | None = None
    notes: list[str] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0

    @property
    def summary(self) -> dict:
        return metrics.summarize(self.rows)

    def to_json(self) -> dict:
        return {
            "name": self.name, "target": self.target, "skipped": self.skipped, "notes": self.notes,
            "settings": self.settings, "seconds": round(self.seconds, 1),
            "summary": metrics.summarize(self.rows) if self.rows else None,
            "by_language": metrics.breakdown(self.rows, "lang") if self.rows else {},
            "by_kind": metrics.breakdown(self.rows, "kind") if self.rows else {},
            "rows": self.rows,
        }


def run_questions(target, items: list[dict], name: str = "default", judge: Judge | None = None,
                  on_done: Callable[[dict], None] | None = None) -> Run:
    """Ask every item; a failure becomes a row with `error` set (a miss), never an exception."""
    run = Run(name=name, target=target.name)
    t0 = time.perf_counter()
    for item in items:
        mode = "briefing" if item["kind"] == "briefing" else "answer"
        answer = error = status = None
        start = time.perf_counter()
        try:
            answer = target.ask(item["question"], item.get("history"), mode)
            status = 200 if isinstance(target, HttpTarget) else None
        except CallError as exc:
            error, status = str(exc), exc.status
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - start) * 1000, 1)
        row = metrics.score(item, answer, latency, error, target.page_text, status)
        if judge is not None:
            row["judge"] = judge.score(row)
        run.rows.append(row)
        if on_done:
            on_done(row)
    run.seconds = time.perf_counter() - t0
    return run


def load_config(path: Path):
    """A CONFIG is a JSON object of Settings overrides; returns (name, Settings)."""
    from pydantic import ValidationError

    from assistant.settings import Settings

    path = Path(path)
    try:
        overrides = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read config ({exc})") from exc
    if not isinstance(overrides, dict):
        raise DatasetError(f"{path}: a config must be a JSON object of Settings overrides")
    try:
        return path.stem, Settings(**overrides), overrides
    except ValidationError as exc:
        raise DatasetError(f"{path}: not valid Settings: {exc}") from exc


def llm_reachable(settings) -> tuple[bool, str]:
    """For answerer=llm: is a backend configured, and does the server answer?"""
    llm = settings.llm
    if llm.gguf_path:
        return (True, "") if Path(llm.gguf_path).exists() else (False, f"GGUF file {llm.gguf_path} not found")
    if not llm.base_url:
        return False, "no LLM backend configured (POVQA_LLM__BASE_URL or POVQA_LLM__GGUF_PATH)"
    import httpx

    try:
        headers = {"Authorization": f"Bearer {llm.api_key.get_secret_value()}"} if llm.api_key else {}
        httpx.get(llm.base_url.rstrip("/") + "/models", timeout=3.0, headers=headers)
    except httpx.HTTPError as exc:
        return False, f"LLM server {llm.base_url} unreachable ({type(exc).__name__})"
    return True, ""


def evaluate(dataset: Path, url: str | None = None, api_key: str | None = None, configs: list[Path] | None = None,
             report_dir: Path | None = None, progress=None, log: Callable[[str], None] = print,
             settings=None, assistant=None, http_client=None) -> dict:
    """Run and score; write the report when `report_dir` is given. Returns the report as a dict.

    `progress(total, name)` must return a callable advanced once per question (the CLI's rich bar).
    """
    from eval import report as report_mod

    items = load_dataset(dataset)
    runs: list[Run] = []
    judge_notes: list[str] = []

    def advance_for(name: str) -> Callable[[dict], None] | None:
        return progress(len(items), name) if progress else None

    if configs:
        if url:
            raise DatasetError("--compare runs configurations in-process: leave out --url")
        for path in configs:
            name, cfg, overrides = load_config(path)
            if cfg.answerer == "llm":
                ok, why = llm_reachable(cfg)
                if not ok:
                    runs.append(Run(name=name, target="in-process", settings=overrides, skipped=True,
                                    notes=[f"skipped: {why}"]))
                    log(f"{name}: skipped ({why})")
                    continue
            try:
                target = InProcessTarget(cfg)
            except Exception as exc:
                runs.append(Run(name=name, target="in-process", settings=overrides, skipped=True,
                                notes=[f"skipped: could not load ({type(exc).__name__}: {exc})"]))
                log(f"{name}: skipped ({exc})")
                continue
            judge = _judge_for(cfg, judge_notes, name)
            run = run_questions(target, items, name, judge, advance_for(name))
            run.settings = overrides
            runs.append(run)
    else:
        target = HttpTarget(url, api_key, client=http_client) if url else InProcessTarget(settings, assistant)
        judge = _judge_for(target.settings, judge_notes, "default")
        try:
            run = run_questions(target, items, "default", judge, advance_for(target.name))
        finally:
            target.close()
        runs.append(run)
    result = report_mod.build(dataset, runs, judge_notes)
    if report_dir is not None:
        report_mod.write(result, Path(report_dir))
    return result


def _judge_for(settings, notes: list[str], name: str) -> Judge | None:
    ok, note = judge_available(settings)
    notes.append(f"{name}: {note}")
    if not ok:
        return None
    try:
        return Judge.from_settings(settings)
    except Exception as exc:
        notes[-1] = f"{name}: judge skipped: could not start the chat model ({exc})"
        return None


def run_xquad(data_dir: Path | None, langs: list[str] | None, report_dir: Path | None, log=print) -> dict:
    """The XQuAD retrieval benchmark (eval/xquad.py), with its table written into the report folder."""
    from eval import xquad

    out = ROOT / "bench" / "out" / "xquad"
    outcome = xquad.run(data_dir or xquad.DEFAULT_DATA, langs or None, out, log=log)
    table = xquad.markdown_table(outcome["results"], outcome["summary"])
    if report_dir is not None:
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "xquad.json").write_text(json.dumps(outcome, indent=2), "utf-8")
        (report_dir / "xquad.md").write_text(
            "# XQuAD cross-lingual retrieval\n\n" + table + "\n```json\n" + json.dumps(outcome["summary"], indent=2) + "\n```\n",
            "utf-8")
    return {**outcome, "table": table}
