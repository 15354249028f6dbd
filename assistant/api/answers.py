"""Kept answers: every answer of /api/ask gets an id and is stored (`assistant.answerstore`), so it can be read
back, exported as a briefing (Markdown or Word) and rated.

    GET /api/answers/{id}                         the answer, with its question, mode, history and collections
    GET /api/answers/{id}/export?format=md|docx   a file to keep: the question, the answer with its [n] markers,
                                                  the numbered sources with their verbatim quotes
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from assistant.api.deps import answer_store, fail, require_api_key
from assistant.api.schemas import KeptAnswer
from assistant.types import Answer

log = logging.getLogger("povqa.api")

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])

ANSWER_ID_PATTERN = r"^[0-9a-f]{32}$"
AnswerId = Annotated[str, PathParam(pattern=ANSWER_ID_PATTERN, description="32 hex characters (Answer.id)")]
MEDIA_TYPES = {"md": "text/markdown; charset=utf-8",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def keeper(request: Request, question: str, mode: str, history: list[dict],
           collections: list[str] | None) -> Callable[[Answer], Answer]:
    """A function that stores an answer to `question` and returns it with its id (blocking: run it in the
    threadpool). An answer the store cannot take (a full disk) is still returned, without an id, and logged."""
    store = getattr(request.app.state, "answers", None)

    def keep(answer: Answer) -> Answer:
        if store is None:
            return answer
        try:
            return store.keep(question, answer, mode, history, collections)
        except (sqlite3.Error, OSError) as exc:
            log.error("an answer could not be kept in %s: %s", store.path, exc)
            return answer

    return keep


def kept_answer(request: Request, answer_id: str):
    kept = answer_store(request).get(answer_id)
    if kept is None:
        raise fail(404, f"no answer with id {answer_id}: it was never given here, or it is older than "
                        "POVQA_SERVER__KEEP_ANSWERS_DAYS and was deleted")
    return kept


@router.get("/answers/{answer_id}", response_model=KeptAnswer,
            responses={404: {"description": "No such answer (or it was deleted with age)."}})
def get_answer(answer_id: AnswerId, request: Request) -> KeptAnswer:
    kept = kept_answer(request, answer_id)
    return KeptAnswer(**kept.answer.model_dump(), question=kept.question, mode=kept.mode, history=kept.history,
                      collections=kept.collections, created=kept.created)


@router.get("/answers/{answer_id}/export",
            responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()},
                             "description": "The briefing as a file (Content-Disposition: attachment)."},
                       404: {"description": "No such answer."}})
def export_answer(answer_id: AnswerId, request: Request,
                  format: Annotated[Literal["md", "docx"], Query(description="md (Markdown) or docx (Word)")] = "md"
                  ) -> Response:
    from assistant.exporting import answer_docx, answer_markdown

    kept = kept_answer(request, answer_id)
    if format == "md":
        body = answer_markdown(kept.question, kept.answer).encode("utf-8")
    else:
        body = answer_docx(kept.question, kept.answer)
    name = f"povqa-answer-{answer_id[:8]}.{format}"
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
