"""Generates expected.json: FastAPI's 422 bodies for the bad-input scenarios that
tests/fastapi_422.rs sends to the equivalent di app.

Run once by hand (CI does not run Python):

    python3 -m venv /tmp/venv422 && /tmp/venv422/bin/pip install fastapi httpx python-multipart email-validator
    /tmp/venv422/bin/python tests/fastapi_422/gen.py

Each scenario records the request (method, path, content type, body text, and the headers
it set besides the content type) and FastAPI's response (status, the exact body text and
its `WWW-Authenticate` header), so the Rust test replays the same bytes. Most rows are 422s;
the header, cookie, form and security rows also record answers that are not (200 with the
value read, 401), to pin down how FastAPI reads those inputs.

The Rust app mirrors this one: a Rust integer type is a Python `int` with the type's bounds
(`ge`/`le`), an `enum` of unit variants a `str` `Enum`, `Option<T>` a `T | None = None`,
`#[serde(default)] Vec<T>` a `list[T] = []`, `[T; 2]` a `tuple[T, T]`, `char` a `str` of
length 1, `#[serde(deny_unknown_fields)]` a model with `extra="forbid"`.
"""

import enum
import json
import pathlib
import platform
from typing import Annotated, Optional

import fastapi
import pydantic
import pydantic_core
from fastapi import Body, Cookie, Depends, FastAPI, Form, Header, Path, Query
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, EmailStr, Field

U8 = dict(ge=0, le=255)
U16 = dict(ge=0, le=65535)
U32 = dict(ge=0, le=4294967295)
I32 = dict(ge=-2147483648, le=2147483647)
I64 = dict(ge=-9223372036854775808, le=9223372036854775807)


class Color(str, enum.Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Meta(BaseModel):
    author: str
    version: Annotated[int, Field(**I32)]


class Item(BaseModel):
    name: str
    qty: Annotated[int, Field(**U32)]


class Note(BaseModel):
    title: str
    count: Annotated[int, Field(**U8)]
    score: float
    done: bool
    color: Color
    tags: list[str]
    meta: Meta
    items: list[Item]
    note: Optional[str] = None
    pair: Optional[tuple[Annotated[int, Field(**I32)], Annotated[int, Field(**I32)]]] = None
    labels: dict[str, Annotated[int, Field(**I64)]] = {}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    n: Annotated[int, Field(**I32)]


app = FastAPI()


@app.get("/items")
def items(
    q: str,
    limit: Annotated[int, Query(**U32)],
    ratio: Optional[float] = None,
    flag: Optional[bool] = None,
    color: Optional[Color] = None,
    small: Annotated[Optional[int], Query(**U8)] = None,
    offset: Annotated[Optional[int], Query(**I32)] = None,
    letter: Annotated[Optional[str], Query(min_length=1, max_length=1)] = None,
    tags: Annotated[list[Annotated[int, Field(**I64)]], Query()] = [],
):
    return "ok"


@app.get("/p/{id}/{color}")
def by_path(id: Annotated[int, Path(**U16)], color: Color):
    return "ok"


@app.post("/notes")
def notes(note: Note):
    return "ok"


@app.post("/strict")
def strict(body: Strict):
    return "ok"


@app.post("/mixed/{id}")
def mixed(id: Annotated[int, Path(**U16)], limit: Annotated[int, Query(**U32)], body: Strict):
    return "ok"


# Header(), Cookie() and Form() parameters, one per field: di's `Header<T>`, `Cookie<T>` and
# `Form<T>` answer as these do (a missing field has `input` null).
@app.get("/headers")
def headers(
    x_count: Annotated[int, Header(**U32)],
    x_ratio: Annotated[Optional[float], Header()] = None,
    x_token: Annotated[list[Annotated[int, Field(**I64)]], Header()] = [],
    user_agent: Annotated[Optional[str], Header()] = None,
):
    return [x_count, x_ratio, x_token, user_agent]


@app.get("/cookies")
def cookies(
    session_id: Annotated[str, Cookie()],
    n: Annotated[Optional[int], Cookie(**U8)] = None,
):
    return [session_id, n]


@app.post("/form")
def form(
    username: Annotated[str, Form()],
    age: Annotated[int, Form(**U8)],
    tags: Annotated[list[str], Form()] = [],
    nick: Annotated[Optional[str], Form()] = None,
):
    return [username, age, tags, nick]


@app.post("/form_query_header")
def form_query_header(
    limit: Annotated[int, Query(**U32)],
    x_count: Annotated[int, Header(**U32)],
    session_id: Annotated[str, Cookie()],
    age: Annotated[int, Form(**U8)],
):
    return "ok"


bearer = HTTPBearer()
basic = HTTPBasic()
key_header = APIKeyHeader(name="X-API-Key")
key_query = APIKeyQuery(name="api_key")
key_cookie = APIKeyCookie(name="key")


@app.get("/bearer")
def with_bearer(c: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]):
    return c.credentials


@app.get("/bearer_optional")
def with_optional_bearer(
    c: Annotated[Optional[HTTPAuthorizationCredentials], Depends(HTTPBearer(auto_error=False))],
):
    return None if c is None else c.credentials


@app.get("/bearer_and_query")
def bearer_and_query(
    limit: Annotated[int, Query(**U32)],
    c: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
):
    return "ok"


@app.post("/bearer_and_body")
def bearer_and_body(body: Strict, c: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]):
    return "ok"


@app.get("/basic")
def with_basic(c: Annotated[HTTPBasicCredentials, Depends(basic)]):
    return [c.username, c.password]


@app.get("/basic_optional")
def with_optional_basic(
    c: Annotated[Optional[HTTPBasicCredentials], Depends(HTTPBasic(auto_error=False))],
):
    return None if c is None else [c.username, c.password]


@app.get("/key_header")
def with_key_header(k: Annotated[str, Depends(key_header)]):
    return k


@app.get("/key_query")
def with_key_query(k: Annotated[str, Depends(key_query)]):
    return k


@app.get("/key_cookie")
def with_key_cookie(k: Annotated[str, Depends(key_cookie)]):
    return k


GOOD = {
    "title": "t",
    "count": 1,
    "score": 0.5,
    "done": True,
    "color": "red",
    "tags": ["a"],
    "meta": {"author": "me", "version": 1},
    "items": [{"name": "x", "qty": 1}],
}


class Part(BaseModel):
    name: Annotated[str, Field(min_length=1)]


# The `validator` rules of tests/fastapi_422.rs's `Checked`, as pydantic constraints.
class Checked(BaseModel):
    title: Annotated[str, Field(min_length=1, max_length=20)]
    count: Annotated[int, Field(ge=0, le=10)]
    ratio: Annotated[float, Field(gt=0, lt=1.5)]
    tags: Annotated[list[str], Field(min_length=1, max_length=3)]
    email: EmailStr
    slug: Annotated[str, Field(pattern=r"^[a-z-]+$")]
    parts: list[Part]


@app.post("/checked")
def checked(body: Checked):
    return "ok"


@app.get("/checked_query")
def checked_query(
    limit: Annotated[int, Query(ge=1, le=100)],
    name: Annotated[str, Query(min_length=2)],
):
    return "ok"


@app.post("/checked_form")
def checked_form(
    username: Annotated[str, Form(min_length=3, max_length=8)],
    age: Annotated[int, Form(ge=18)],
):
    return "ok"


@app.post("/checked_mixed")
def checked_mixed(limit: Annotated[int, Query(ge=1, le=100)], body: Checked):
    return "ok"


@app.get("/checked_headers")
def checked_headers(
    x_token: Annotated[str, Header(min_length=3)],
    x_count: Annotated[int, Header(ge=1, le=10)],
    session_id: Annotated[str, Cookie(min_length=4)],
):
    return "ok"


GOOD_CHECKED = {
    "title": "t",
    "count": 1,
    "ratio": 0.5,
    "tags": ["a"],
    "email": "a@b.co",
    "slug": "a-b",
    "parts": [{"name": "x"}],
}


def checked_body(**changes):
    body = dict(GOOD_CHECKED)
    for k, v in changes.items():
        if v is DROP:
            del body[k]
        else:
            body[k] = v
    return json.dumps(body, separators=(",", ":"))


def note(**changes):
    body = dict(GOOD)
    for k, v in changes.items():
        if v is DROP:
            del body[k]
        else:
            body[k] = v
    return json.dumps(body, separators=(",", ":"))


DROP = object()

FORM = "application/x-www-form-urlencoded"

# name -> (method, path, body text or None[, content type[, headers]]); a body is sent as
# application/json unless a content type (None: no header) is given; headers are a list of
# (name, value) pairs, sent in order.
SCENARIOS = {
    # query
    "query_missing_required": ("GET", "/items", None),
    "query_int_parsing": ("GET", "/items?q=a&limit=abc", None),
    "query_int_empty": ("GET", "/items?q=a&limit=", None),
    "query_int_fraction": ("GET", "/items?q=a&limit=1.5", None),
    "query_u32_too_big": ("GET", "/items?q=a&limit=4294967296", None),
    "query_u32_negative": ("GET", "/items?q=a&limit=-1", None),
    "query_u8_300": ("GET", "/items?q=a&limit=1&small=300", None),
    "query_i32_too_small": ("GET", "/items?q=a&limit=1&offset=-2147483649", None),
    "query_huge_integer": ("GET", "/items?q=a&limit=123456789012345678901234567890", None),
    "query_float_parsing": ("GET", "/items?q=a&limit=1&ratio=x", None),
    "query_bool_parsing": ("GET", "/items?q=a&limit=1&flag=maybe", None),
    "query_enum": ("GET", "/items?q=a&limit=1&color=purple", None),
    "query_char_too_long": ("GET", "/items?q=a&limit=1&letter=ab", None),
    "query_char_too_short": ("GET", "/items?q=a&limit=1&letter=", None),
    "query_list_item": ("GET", "/items?q=a&limit=1&tags=1&tags=x&tags=3", None),
    "query_every_problem_in_field_order": (
        "GET",
        "/items?letter=xyz&small=256&color=no&flag=2&ratio=r&limit=abc",
        None,
    ),
    "query_percent_decoded_input": ("GET", "/items?q=a&limit=%C3%A9t%C3%A9%20x", None),
    # path
    "path_int_parsing": ("GET", "/p/abc/red", None),
    "path_u16_too_big": ("GET", "/p/70000/red", None),
    "path_u16_negative": ("GET", "/p/-5/red", None),
    "path_enum": ("GET", "/p/5/purple", None),
    "path_both": ("GET", "/p/x/purple", None),
    # JSON body: syntax
    "json_truncated_object": ("POST", "/notes", '{"title": "x"'),
    "json_trailing_comma_object": ("POST", "/notes", '{"title": "x",}'),
    "json_trailing_comma_array": ("POST", "/notes", "[1,]"),
    "json_not_json": ("POST", "/notes", "not json"),
    "json_extra_data": ("POST", "/notes", "{} []"),
    "json_single_quotes": ("POST", "/notes", "{'title': 1}"),
    "json_missing_colon": ("POST", "/notes", '{"title" 1}'),
    "json_missing_value": ("POST", "/notes", '{"title": }'),
    "json_missing_comma": ("POST", "/notes", '{"a": 1 "b": 2}'),
    "json_unterminated_string": ("POST", "/notes", '{"title": "abc'),
    "json_bad_escape": ("POST", "/notes", '{"title": "a\\qb"}'),
    "json_bad_unicode_escape": ("POST", "/notes", '{"title": "\\u12G4"}'),
    "json_control_character": ("POST", "/notes", '{"title": "a\nb"}'),
    "json_leading_zero": ("POST", "/notes", '{"count": 01}'),
    "json_bare_minus": ("POST", "/notes", '{"count": -}'),
    "json_whitespace_only": ("POST", "/notes", "  \n "),
    "json_non_ascii_position": ("POST", "/notes", '{"titlé": "ça", x}'),
    "json_bad_literal": ("POST", "/notes", '{"done": tru}'),
    # JSON body: content
    "body_missing": ("POST", "/notes", None),
    "body_not_an_object": ("POST", "/notes", "[1, 2]"),
    # An array whose items would fit the model's fields in order (serde's derive reads a
    # struct from one): an object is still required, at any depth.
    "body_model_as_array": ("POST", "/strict", '["a", 1]'),
    "body_nested_model_as_array": ("POST", "/notes", note(meta=["me", 1])),
    "body_list_item_model_as_array": ("POST", "/notes", note(items=[["x", 1]])),
    "body_string": ("POST", "/notes", '"hello"'),
    "body_null": ("POST", "/notes", "null"),
    "body_every_field_missing": ("POST", "/notes", "{}"),
    "body_wrong_types": (
        "POST",
        "/notes",
        note(title=5, count="abc", score="x", done="maybe", color="purple", tags="x",
             meta="x", items={}),
    ),
    "body_type_errors_of_containers": (
        "POST",
        "/notes",
        note(score=[], done=[], count=[], title={}, tags={}, meta=[], items=3, labels=[]),
    ),
    "body_null_fields": ("POST", "/notes", note(title=None, count=None, meta=None, items=None)),
    "body_int_from_float": ("POST", "/notes", note(count=1.5)),
    "body_u8_300": ("POST", "/notes", note(count=300)),
    "body_u8_negative": ("POST", "/notes", note(count=-1)),
    "body_bool_from_int": ("POST", "/notes", note(done=2)),
    "body_enum_number": ("POST", "/notes", note(color=5)),
    "body_nested_missing_and_wrong": (
        "POST",
        "/notes",
        note(meta={"author": 1}),
    ),
    "body_list_of_models": (
        "POST",
        "/notes",
        note(items=[{"name": "a", "qty": -1}, {"qty": 1.5}, "x"]),
    ),
    "body_list_items": ("POST", "/notes", note(tags=["a", 1, None])),
    "body_missing_between_present": ("POST", "/notes", note(title=DROP, done=DROP, color="x")),
    "body_optional_wrong_type": ("POST", "/notes", note(note=5)),
    "body_tuple_too_long": ("POST", "/notes", note(pair=[1, 2, 3])),
    "body_tuple_too_short": ("POST", "/notes", note(pair=[1])),
    "body_tuple_bad_item": ("POST", "/notes", note(pair=[1, "x"])),
    "body_dict_value": ("POST", "/notes", note(labels={"a": "x", "b": 2})),
    "body_string_input_kept": ("POST", "/notes", note(count="é ü")),
    "strict_extra_field": ("POST", "/strict", '{"name": "a", "n": 1, "zzz": [true]}'),
    "strict_extra_and_missing": ("POST", "/strict", '{"extra": 1}'),
    "strict_wrong_and_extra": ("POST", "/strict", '{"name": 1, "n": "x", "more": null}'),
    # several inputs at once
    "mixed_path_query_body": ("POST", "/mixed/x?limit=-1", '{"n": 1.25}'),
    # headers
    "header_missing": ("GET", "/headers", None, None, []),
    "header_int_parsing": ("GET", "/headers", None, None, [("x-count", "abc")]),
    "header_every_problem": (
        "GET",
        "/headers",
        None,
        None,
        [("X-Ratio", "r"), ("x-token", "1"), ("x-token", "x"), ("x-token", "3")],
    ),
    "header_out_of_range": ("GET", "/headers", None, None, [("X-Count", "4294967296")]),
    "header_case_and_hyphens": (
        "GET",
        "/headers",
        None,
        None,
        [("X-COUNT", "7"), ("x-token", "1"), ("X-Token", "2"), ("User-Agent", "agent/1")],
    ),
    "header_underscore_not_taken": ("GET", "/headers", None, None, [("x_count", "7")]),
    "header_repeated_first_taken": (
        "GET",
        "/headers",
        None,
        None,
        [("x-count", "1"), ("x-count", "x"), ("user-agent", "a")],
    ),
    "header_repeated_first_bad": (
        "GET",
        "/headers",
        None,
        None,
        [("x-count", "x"), ("x-count", "1")],
    ),
    # cookies
    "cookie_missing": ("GET", "/cookies", None, None, []),
    "cookie_missing_among_others": ("GET", "/cookies", None, None, [("cookie", "a=1; n=x")]),
    "cookie_out_of_range": ("GET", "/cookies", None, None, [("cookie", "session_id=s; n=300")]),
    "cookie_not_percent_decoded": ("GET", "/cookies", None, None, [("cookie", "session_id=a%20b")]),
    "cookie_quoted": (
        "GET",
        "/cookies",
        None,
        None,
        [("cookie", 'session_id="a\\"b\\054c"; n=3')],
    ),
    "cookie_last_wins": ("GET", "/cookies", None, None, [("cookie", "session_id=1; session_id=2")]),
    # forms
    "form_missing": ("POST", "/form", "", FORM),
    "form_int_parsing": ("POST", "/form", "username=ada&age=x", FORM),
    "form_out_of_range": ("POST", "/form", "username=ada&age=300", FORM),
    "form_empty_is_missing": ("POST", "/form", "username=&age=&nick=", FORM),
    "form_decoded": (
        "POST",
        "/form",
        "username=a+b%20c&age=%34%32&tags=x&tags=&tags=y",
        "application/x-www-form-urlencoded; charset=utf-8",
    ),
    "form_json_content_type": ("POST", "/form", '{"username": "ada", "age": 1}'),
    "form_no_content_type": ("POST", "/form", "username=ada&age=1", None),
    "form_with_query_header_cookie": (
        "POST",
        "/form_query_header?limit=x",
        "age=-1",
        FORM,
        [("x-count", "y"), ("cookie", "other=1")],
    ),
    # security
    "bearer_missing": ("GET", "/bearer", None, None, []),
    "bearer_other_scheme": ("GET", "/bearer", None, None, [("authorization", "Basic abc")]),
    "bearer_no_token": ("GET", "/bearer", None, None, [("authorization", "Bearer ")]),
    "bearer_ok": ("GET", "/bearer", None, None, [("authorization", "bearer  tok en ")]),
    "bearer_optional_missing": ("GET", "/bearer_optional", None, None, []),
    "bearer_optional_other_scheme": (
        "GET",
        "/bearer_optional",
        None,
        None,
        [("authorization", "Basic abc")],
    ),
    "bearer_before_422": ("GET", "/bearer_and_query?limit=x", None, None, []),
    "bearer_before_body_422": ("POST", "/bearer_and_body", '{"name": 1}'),
    "bearer_after_json_invalid": ("POST", "/bearer_and_body", '{"name"'),
    "basic_missing": ("GET", "/basic", None, None, []),
    "basic_other_scheme": ("GET", "/basic", None, None, [("authorization", "Bearer x")]),
    "basic_not_base64": ("GET", "/basic", None, None, [("authorization", "Basic dXNlcg")]),
    "basic_no_colon": ("GET", "/basic", None, None, [("authorization", "Basic dXNlcg==")]),
    "basic_ok": ("GET", "/basic", None, None, [("authorization", "basic dXNlcjpwYTpzcw==")]),
    "basic_optional_missing": ("GET", "/basic_optional", None, None, []),
    "basic_optional_malformed": (
        "GET",
        "/basic_optional",
        None,
        None,
        [("authorization", "Basic dXNlcg==")],
    ),
    "key_header_missing": ("GET", "/key_header", None, None, []),
    "key_header_empty": ("GET", "/key_header", None, None, [("x-api-key", "")]),
    "key_header_ok": ("GET", "/key_header", None, None, [("X-Api-Key", "k1")]),
    "key_query_missing": ("GET", "/key_query?other=1", None, None, []),
    "key_query_ok": ("GET", "/key_query?api_key=a&api_key=k%202", None, None, []),
    "key_cookie_missing": ("GET", "/key_cookie", None, None, [("cookie", "other=1")]),
    "key_cookie_ok": ("GET", "/key_cookie", None, None, [("cookie", "key=k3")]),
    # validated inputs (`validator` rules, pydantic constraints)
    "checked_ok": ("POST", "/checked", checked_body()),
    "checked_every_rule": (
        "POST",
        "/checked",
        checked_body(
            title="",
            count=-1,
            ratio=0,
            tags=[],
            email="nope",
            slug="A",
            parts=[{"name": "x"}, {"name": ""}],
        ),
    ),
    "checked_upper_bounds": (
        "POST",
        "/checked",
        checked_body(title="x" * 21, count=11, ratio=1.5, tags=["a", "b", "c", "d"]),
    ),
    "checked_email_before_at": ("POST", "/checked", checked_body(email="@b.co")),
    "checked_email_after_at": ("POST", "/checked", checked_body(email="a@")),
    "checked_unicode_length": ("POST", "/checked", checked_body(title="é" * 21)),
    "checked_query": ("GET", "/checked_query?limit=0&name=a", None),
    "checked_query_upper": ("GET", "/checked_query?limit=101&name=ab", None),
    "checked_query_last_value": ("GET", "/checked_query?limit=101&limit=7&name=ab", None),
    "checked_query_ok": ("GET", "/checked_query?limit=7&name=ab", None),
    "checked_form": ("POST", "/checked_form", "username=ab&age=17", FORM),
    "checked_form_long": ("POST", "/checked_form", "username=abcdefghi&age=18", FORM),
    "checked_form_ok": ("POST", "/checked_form", "username=abc&age=18", FORM),
    "checked_query_rule_and_body_type": (
        "POST",
        "/checked_mixed?limit=0",
        checked_body(title=1, count=DROP),
    ),
    "checked_rule_and_missing_field": ("POST", "/checked", checked_body(title="", count=DROP)),
    "checked_rules_beside_type_problems": (
        "POST",
        "/checked",
        checked_body(title=1, tags=[], email="x", parts=[{"name": ""}, {}]),
    ),
    "checked_query_type_and_rule": ("GET", "/checked_query?limit=abc&name=a", None),
    "checked_form_type_and_rule": ("POST", "/checked_form", "username=ab&age=x", FORM),
    "checked_header_and_cookie": (
        "GET",
        "/checked_headers",
        None,
        None,
        [("x-token", "ab"), ("x-count", "0"), ("cookie", "session_id=abc")],
    ),
    "checked_header_first_value": (
        "GET",
        "/checked_headers",
        None,
        None,
        [("x-token", "ab"), ("x-token", "abcd"), ("x-count", "11"), ("cookie", "session_id=abcd")],
    ),
    "checked_header_type_and_rule": (
        "GET",
        "/checked_headers",
        None,
        None,
        [("X-Token", "ab"), ("X-Count", "x")],
    ),
    "checked_headers_ok": (
        "GET",
        "/checked_headers",
        None,
        None,
        [("x-token", "abc"), ("x-count", "10"), ("cookie", "session_id=abcd")],
    ),
    # differences (the exceptions in fastapi_422.rs say why)
    "lax_numeric_string": ("POST", "/notes", note(count="5")),
    "lax_query_bool": ("GET", "/items?q=a&limit=1&flag=yes", None),
    "json_nan": ("POST", "/notes", note(score=float("nan"))),
    "no_content_type": ("POST", "/strict", '{"name": 1, "n": 1}', None),
}


def main():
    client = TestClient(app)
    out = {
        "_generated_by": "tests/fastapi_422/gen.py",
        "_versions": {
            "fastapi": fastapi.__version__,
            "pydantic": pydantic.VERSION,
            "pydantic_core": pydantic_core.__version__,
            "python": platform.python_version(),
        },
        "scenarios": {},
    }
    for name, (method, path, body, *rest) in SCENARIOS.items():
        content_type = rest[0] if rest else "application/json"
        extra = rest[1] if len(rest) > 1 else []
        headers = []
        if body is not None and content_type is not None:
            headers.append(("content-type", content_type))
        headers.extend(extra)
        # The test client's own headers (user-agent and so on) are left out: each row's
        # handler reads only the headers the row sets.
        response = client.request(
            method, path, content=None if body is None else body.encode(), headers=headers
        )
        row = {
            "method": method,
            "path": path,
            "body": body,
            "content_type": content_type if body is not None else None,
        }
        if extra:
            row["headers"] = [list(h) for h in extra]
        row["status"] = response.status_code
        row["response"] = response.text
        if "www-authenticate" in response.headers:
            row["www_authenticate"] = response.headers["www-authenticate"]
        out["scenarios"][name] = row
    target = pathlib.Path(__file__).with_name("expected.json")
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
