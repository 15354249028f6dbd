"""Feedback on answers, and its export as evaluation cases.

    POST /api/feedback          {"answer_id", "rating": "up"|"down", "comment"?, "expected"?} -> 201
    GET  /api/feedback/export   JSONL: one evaluation case per line, the format `povqa eval FILE` reads
                                (staff only: users' questions; see `admin`)

How a rating becomes a case (or why it does not): `assistant.feedback`.
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assistant.api.admin import require_admin
from assistant.api.answers import ANSWER_ID_PATTERN, kept_answer
from assistant.api.deps import AssistantDep, answer_store, check_text, fail, require_api_key
from assistant.api.schemas import FeedbackRequest, FeedbackResponse
from assistant.feedback import eval_case

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])


@router.post("/feedback", status_code=201, response_model=FeedbackResponse,
             responses={404: {"description": "No such answer."}, 422: {"description": "A bad rating or field."}})
async def feedback(body: FeedbackRequest, request: Request, assistant: AssistantDep) -> FeedbackResponse:
    if not re.fullmatch(ANSWER_ID_PATTERN, body.answer_id):
        raise fail(422, "answer_id: an answer's id is 32 hex characters (the `id` of the answer /api/ask gave)")
    comment, expected = check_text(body.comment, "comment"), check_text(body.expected, "expected text")
    kept = kept_answer(request, body.answer_id)
    case, note = await run_in_threadpool(eval_case, kept, body.rating, expected, comment, assistant.retriever)
    replaced = await run_in_threadpool(answer_store(request).add_feedback, kept, body.rating, comment, expected,
                                       case, note)
    return FeedbackResponse(answer_id=kept.id, rating=body.rating, replaced=replaced, eval_case=case is not None,
                            note=note)


@router.get("/feedback/export", dependencies=[Depends(require_admin)],
            responses={200: {"content": {"application/x-ndjson": {}},
                              "description": "One evaluation case per line (eval/dev.jsonl's format); the header "
                                             "X-Povqa-Not-Cases counts the feedback that made none."}})
def export_feedback(request: Request) -> Response:
    cases, skipped = answer_store(request).feedback_cases()
    body = "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
    return Response(body.encode("utf-8"), media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="povqa-feedback.jsonl"',
                             "X-Povqa-Not-Cases": str(skipped)})

