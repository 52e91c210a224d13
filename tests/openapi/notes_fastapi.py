"""The notes example's API (examples/notes.rs), written in FastAPI, so that the OpenAPI
document FastAPI generates for it can be compared with the one di generates for notes.

Only the HTTP surface matters here: every route with its path, query, header and cookie
inputs (including those read by sub-dependencies), its body, the API key security, its
status codes, doc comments and groups. The database is a list in memory; `tx` and `reader`
keep their places in the dependency graph as `yield` dependencies with no inputs, as in
notes.rs.

Run by tests/openapi/gen.sh (which pins FastAPI) to write tests/openapi/fastapi_notes.json:

    tests/openapi/gen.sh

or serve it (`pip install uvicorn`): `uvicorn notes_fastapi:app` from this folder.
"""

import json
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

MAX_TITLE = 200
API_KEY = "let-me-in"

app = FastAPI(title="notes")

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class Note(BaseModel):
    """A stored note."""

    id: Annotated[int, Field(description="Assigned by the database.")]
    title: Annotated[str, Field(description="1 to 200 characters.")]
    body: Annotated[str, Field(description="Any text.")]


class NewNote(BaseModel):
    """The body of `POST /notes`, and one line of `POST /notes/import`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Groceries", "body": "milk, eggs"}]}
    )

    title: Annotated[str, Field(description="1 to 200 characters.")]
    body: Annotated[str, Field(description="Any text.")]


class HTTPError(BaseModel):
    """An error's body: `{"detail": "..."}`."""

    detail: str


class NdjsonResponse(StreamingResponse):
    """`StreamBody::new(..).content_type("application/x-ndjson")`."""

    media_type = "application/x-ndjson"


# ---------------------------------------------------------------------------------------------
# Dependencies (notes.rs: pool, tx, reader; the pool is the app's state here)
# ---------------------------------------------------------------------------------------------

NOTES: list[Note] = []


async def pool() -> list[Note]:
    """The connection pool (app scope in notes.rs)."""
    return NOTES


async def tx(db: Annotated[list[Note], Depends(pool)]) -> AsyncIterator[list[Note]]:
    """A transaction for one handler call, committed or rolled back in its teardown."""
    staged = list(db)
    try:
        yield staged
    except Exception:
        raise
    else:
        db[:] = staged


async def reader(db: Annotated[list[Note], Depends(pool)]) -> AsyncIterator[list[Note]]:
    """One pooled connection for a streamed response."""
    yield db


async def require_api_key(
    key: Annotated[str, Depends(APIKeyHeader(name="X-API-Key"))],
) -> None:
    """The write routes' check: no `X-API-Key` header is 401, a wrong key 403."""
    if key != API_KEY:
        raise HTTPException(status_code=403, detail="wrong API key")


def validate(new: NewNote) -> str | None:
    n = len(new.title)
    if 1 <= n <= MAX_TITLE:
        return None
    return f"title must be 1 to {MAX_TITLE} characters long, got {n}"


def insert(db: list[Note], new: NewNote) -> Note:
    note = Note(id=len(db) + 1, title=new.title, body=new.body)
    db.append(note)
    return note


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


@app.get("/health")
async def health() -> dict[str, Any]:
    """`GET /health`"""
    return {"status": "ok"}


@app.get("/notes")
async def list_notes(db: Annotated[list[Note], Depends(pool)]) -> list[Note]:
    """`GET /notes`: every note, oldest first."""
    return db


@app.get("/notes/export", response_class=NdjsonResponse)
async def export_notes(conn: Annotated[list[Note], Depends(reader)]) -> NdjsonResponse:
    """`GET /notes/export`: every note as NDJSON, one line per note."""

    async def lines() -> AsyncIterator[bytes]:
        for note in conn:
            yield note.model_dump_json().encode() + b"\n"

    return NdjsonResponse(lines())


@app.get("/notes/{id}", responses={404: {"model": HTTPError, "description": "Note not found"}})
async def get_note(db: Annotated[list[Note], Depends(pool)], id: int) -> Note:
    """`GET /notes/{id}`: one note, or 404. A non-integer id is a 422."""
    for note in db:
        if note.id == id:
            return note
    raise HTTPException(status_code=404, detail=f"note {id} not found")


# The write routes: a group behind the API key (notes.rs: `Group::new("/notes").dependency(..)`,
# whose `require_api_key` declares the 401 and 403 it answers with `responses(..)`).
writes = APIRouter(
    prefix="/notes",
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"model": HTTPError, "description": "No API key"},
        403: {"model": HTTPError, "description": "Wrong API key"},
    },
)


@writes.post("", status_code=201)
async def create_note(
    db: Annotated[list[Note], Depends(tx)],
    new: NewNote,
) -> Note:
    """`POST /notes`: stores one note in the handler's transaction."""
    problem = validate(new)
    if problem is not None:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "title"], "msg": problem}])
    return insert(db, new)


@writes.post(
    "/import",
    status_code=201,
    # FastAPI cannot see a body read with `request.stream()`: the route declares it, as
    # notes.rs declares its `BodyStream`'s content type (`body_content_type`), and the 422 the
    # route answers for bad lines, which di documents for any route with an input.
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {}}}}
    },
    responses={
        422: {
            "description": "Validation Error",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                }
            },
        }
    },
)
async def import_notes(
    db: Annotated[list[Note], Depends(tx)],
    request: Request,
) -> dict[str, Any]:
    """`POST /notes/import`: NDJSON, one `{"title", "body"}` per line, all or nothing.

    The body is read as a stream, line by line (`request.stream()` here, `BodyStream` in
    notes.rs), so FastAPI documents the request body only as the route declares it.
    """
    buffer = b""
    async for chunk in request.stream():
        buffer += chunk
    problems = []
    imported = 0
    for line_no, line in enumerate(buffer.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            new = NewNote.model_validate_json(line)
        except ValueError as e:
            problems.append({"loc": ["body", line_no], "msg": str(e)})
            continue
        problem = validate(new)
        if problem is not None:
            problems.append({"loc": ["body", line_no], "msg": problem})
        elif not problems:
            insert(db, new)
            imported += 1
    if problems:
        raise HTTPException(status_code=422, detail=problems)
    return {"imported": imported}


app.include_router(writes)


def document() -> dict[str, Any]:
    """FastAPI's OpenAPI document for this app, with the versions that made it."""
    import fastapi
    import platform
    import pydantic

    doc = app.openapi()
    doc["x-generated-by"] = {
        "script": "tests/openapi/notes_fastapi.py",
        "fastapi": fastapi.__version__,
        "pydantic": pydantic.VERSION,
        "python": platform.python_version(),
    }
    return doc


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
