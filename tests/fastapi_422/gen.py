"""Generates expected.json: FastAPI's 422 bodies for the bad-input scenarios that
tests/fastapi_422.rs sends to the equivalent di app.

Run once by hand (CI does not run Python):

    python3 -m venv /tmp/venv422 && /tmp/venv422/bin/pip install fastapi httpx
    /tmp/venv422/bin/python tests/fastapi_422/gen.py

Each scenario records the request (method, path, content type, body text) and FastAPI's
response (status and the exact body text), so the Rust test replays the same bytes.

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
from fastapi import Body, FastAPI, Path, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

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


def note(**changes):
    body = dict(GOOD)
    for k, v in changes.items():
        if v is DROP:
            del body[k]
        else:
            body[k] = v
    return json.dumps(body, separators=(",", ":"))


DROP = object()

# name -> (method, path, body text or None[, content type]); a body is sent as
# application/json unless a content type (None: no header) is given.
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
    for name, (method, path, body, *content_type) in SCENARIOS.items():
        content_type = content_type[0] if content_type else "application/json"
        headers = {}
        if body is not None and content_type is not None:
            headers["content-type"] = content_type
        response = client.request(
            method, path, content=None if body is None else body.encode(), headers=headers
        )
        out["scenarios"][name] = {
            "method": method,
            "path": path,
            "body": body,
            "content_type": headers.get("content-type"),
            "status": response.status_code,
            "response": response.text,
        }
    target = pathlib.Path(__file__).with_name("expected.json")
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
