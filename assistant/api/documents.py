"""Managing the corpus from the web: uploads, deletions, collections and their background jobs.

    POST   /api/documents            multipart: `files` (one or more), `collection` (optional) -> 202 {"job"}
    DELETE /api/documents/{doc_id}   the document's file leaves the corpus, its chunks the index -> 202 {"job"}
    GET    /api/jobs/{id}            {"job": {status, stage, files (a `povqa index` line each), progress, ...}}
    GET    /api/collections          {"collections": [{"name", "documents", "chunks"}]}

Uploads, deletions and jobs are staff routes (`admin`). Files are written under the corpus folder
(POVQA_CORPUS_DIR) with safe names, staged whole before the job moves them into place (`assistant.corpus`); the
job rebuilds the index incrementally while the server keeps answering, one job at a time (`assistant.jobs`): a
second upload while one runs is accepted and `queued`. What is refused at once: no file (422), only files of
types povqa does not read (415), a bad collection name (422), too large (413, `admin.UploadLimit`); the rest is
said per file in the job (a corrupt file: `failed: <reason>`; the same content again: `unchanged`, or `duplicate`
when it is already indexed under another name).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.api.admin import require_admin
from assistant.api.deps import AssistantDep, fail, get_assistant, require_api_key
from assistant.api.routes import DOC_ID_PATTERN
from assistant.api.schemas import CollectionPublic, CollectionsResponse, JobResponse
from assistant.collections import collection_counts
from assistant.corpus import BadName, check_collection, safe_name, staging, supported, write_whole
from assistant.jobs import Job, JobFile

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])
staff = APIRouter(prefix="/api", dependencies=[Depends(require_api_key), Depends(require_admin)])


def jobs(request: Request):
    return request.app.state.jobs


def indexed(request: Request) -> dict:
    """sha256 -> Document of the index being served (empty when there is none yet)."""
    live = getattr(request.app.state, "live", None)
    assistant = live.get() if live is not None else None
    return {d.sha256: d for d in assistant.retriever.reader.documents.values()} if assistant is not None else {}


def _stage(uploads: list[UploadFile], collection: str, folder, known: dict) -> list[JobFile]:
    """Each upload checked, and written whole into the job's staging folder unless it is not to be indexed
    (blocking: file I/O)."""
    files, seen = [], {}
    for i, upload in enumerate(uploads):
        f = JobFile(safe_name(upload.filename), collection)
        why = supported(f.name)
        if why:
            f.result("failed", why)
            f.kept = False
            files.append(f)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        f.staged = str(i)
        f.sha256, _ = write_whole(upload.file, folder / f.staged)
        same = known.get(f.sha256) or seen.get(f.sha256)
        if same is not None:
            (folder / f.staged).unlink()
            f.staged, f.kept = "", False
            where = getattr(same, "source", same)
            if getattr(same, "collection", None) == collection and where.rsplit("/", 1)[-1] == f.name:
                f.stored_as, f.kept = where, True  # the very file again: as `povqa index` says of it
                f.result("unchanged", pages=same.pages, chunks=same.chunks, unit=same.page_unit)
            else:
                f.result("duplicate", f"same content as {where}; indexed once, this copy not added")
            f.doc_id = f.sha256[:16] if f.sha256 in known else None
        else:
            seen[f.sha256] = f"{f.name} (this upload)"
        files.append(f)
    return files


@staff.post("/documents", status_code=202, response_model=JobResponse,
            responses={413: {"description": "Larger than POVQA_SERVER__MAX_UPLOAD_BYTES."},
                       409: {"description": "The index holds documents that are not in the corpus folder."},
                       415: {"description": "No file of a type povqa reads."},
                       422: {"description": "No file, or a bad collection name."}})
async def upload(request: Request, files: Annotated[list[UploadFile], File(description="One or more files.")],
                 collection: Annotated[str | None, Form(description="The collection (default: 'default').")] = None):
    try:
        name = check_collection(collection)
    except BadName as exc:
        raise fail(422, str(exc)) from exc
    if not files:
        raise fail(422, "no file: send one or more in the multipart field 'files'")
    runner = jobs(request)
    problem = runner.corpus_mismatch()
    if problem:
        raise fail(409, problem)
    job = Job("upload", [])
    folder = staging(runner.corpus, job.id)
    job.files = await run_in_threadpool(_stage, files, name, folder, indexed(request))
    if all(f.status == "failed" for f in job.files):
        raise fail(415, "nothing to index: " + "; ".join(f.line.strip() for f in job.files))
    if any(f.staged for f in job.files):
        await run_in_threadpool(job.save, folder)  # from here on, a restarted server finishes the job
        runner.submit(job)
    else:
        runner.finish_now(job)
    return JSONResponse({"job": job.public()}, status_code=202)


@staff.delete("/documents/{doc_id}", status_code=202, response_model=JobResponse,
              responses={404: {"description": "No such document."},
                         409: {"description": "Its file is not in the corpus folder."}})
def delete(doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN, description="16 hex characters")],
           request: Request, assistant: AssistantDep):
    document = assistant.retriever.reader.documents.get(doc_id)
    if document is None:
        raise fail(404, f"no document with id {doc_id}")
    runner = jobs(request)
    if not (runner.corpus / document.source).is_file():
        raise fail(409, f"{document.source!r} is not in the corpus folder {runner.corpus} (the index was built from "
                        "another folder): delete it there and run `povqa index`, or set POVQA_CORPUS_DIR")
    f = JobFile(document.source.rsplit("/", 1)[-1], document.collection, stored_as=document.source, doc_id=doc_id,
                sha256=document.sha256)
    job = runner.submit(Job("delete", [f]))
    return JSONResponse({"job": job.public()}, status_code=202)


@staff.get("/jobs/{job_id}", response_model=JobResponse, responses={404: {"description": "No such job."}})
def job_status(job_id: Annotated[str, PathParam(max_length=64)], request: Request) -> JobResponse:
    job = jobs(request).get(job_id)
    if job is None:
        raise fail(404, f"no job with id {job_id[:64]!r} (jobs are forgotten when the server restarts)")
    return JobResponse.model_validate({"job": job.public()})


@router.get("/collections", response_model=CollectionsResponse)
def collections(request: Request) -> CollectionsResponse:
    reader = get_assistant(request).retriever.reader
    return CollectionsResponse(collections=[CollectionPublic(name=name, documents=docs, chunks=chunks)
                                            for name, (docs, chunks) in collection_counts(reader).items()])
