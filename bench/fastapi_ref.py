"""The reference workload in FastAPI, for `bench/http.sh` (the far anchor).

Run: uvicorn fastapi_ref:app --app-dir bench --host 127.0.0.1 --port 38084

The same five dependencies as the Rust implementations (see bench/src/lib.rs):

- settings: the app singleton, made in the lifespan (FastAPI's `app` scope);
- current_user: plain, used by `get_tx` and `get_session`, cached once per request
  (FastAPI's default `use_cache=True`);
- get_tx: a generator with `scope="function"`: commits on success, rolls back otherwise,
  after the handler returns and before the response is sent;
- get_session: a generator with `scope="request"`: closed after the response (including a
  streamed body) has been sent;
- limit: a query parameter.

Every function is `async def`: a plain `def` dependency would run in the thread pool.
The response bytes are those of the Rust servers:
`{"items":[1,2,3,4,5],"user":21,"session":42}` with `content-type: application/json`.
"""

import sys
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

LINES = 100
COUNTS = {
    "commits": 0,
    "rollbacks": 0,
    "writes": 0,
    "sessions_closed": 0,
    "sessions_aborted": 0,
}


class Settings:
    def __init__(self) -> None:
        self.user_base = 7
        self.session_id = 42
        self.max_limit = 100


class Tx:
    def __init__(self, user: int) -> None:
        self.user = user
        self.writes = 0

    def record(self, items: list[int]) -> None:
        self.writes += len(items)

    def finish(self, success: bool) -> None:
        if success:
            COUNTS["commits"] += 1
            COUNTS["writes"] += self.writes
        else:
            COUNTS["rollbacks"] += 1


class Session:
    def __init__(self, settings: Settings, user: int) -> None:
        self.id = settings.session_id
        self.user = user

    def close(self, completed: bool) -> None:
        COUNTS["sessions_closed" if completed else "sessions_aborted"] += 1


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.settings = Settings()
    yield
    counts = " ".join(f"{k}={v}" for k, v in COUNTS.items())
    print(f"fastapi: {counts}", file=sys.stderr)


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def current_user(settings: SettingsDep) -> int:
    return settings.user_base * 3


UserDep = Annotated[int, Depends(current_user)]


async def get_tx(settings: SettingsDep, user: UserDep):
    tx = Tx(user)
    try:
        yield tx
    except BaseException:
        tx.finish(False)
        raise
    tx.finish(True)


TxDep = Annotated[Tx, Depends(get_tx, scope="function")]


async def get_session(settings: SettingsDep, user: UserDep):
    session = Session(settings, user)
    completed = False
    try:
        yield session
        completed = True
    finally:
        session.close(completed)


SessionDep = Annotated[Session, Depends(get_session, scope="request")]


@app.get("/items")
async def list_items(
    settings: SettingsDep,
    tx: TxDep,
    session: SessionDep,
    limit: Annotated[int, Query()] = 5,
):
    if not 1 <= limit <= settings.max_limit:
        raise HTTPException(
            422, f"limit must be between 1 and {settings.max_limit}, got {limit}"
        )
    items = list(range(1, limit + 1))
    tx.record(items)
    return {"items": items, "user": tx.user, "session": session.id}


@app.get("/stream")
async def stream_lines(session: SessionDep):
    async def lines():
        for i in range(LINES):
            yield f'{{"line":{i},"session":{session.id}}}\n'

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@app.get("/hello", response_class=PlainTextResponse)
async def hello():
    return "hello"
