"""Generates expected.json for tests/walk_parity.rs: FastAPI's answers (status and exact
body) to the requests of an input parity walk, sent to a FastAPI app whose inputs mirror the
di app of that test.

Run by hand (CI does not run Python):

    python3 -m venv /tmp/fvenv && /tmp/fvenv/bin/pip install fastapi httpx python-multipart
    /tmp/fvenv/bin/python tests/walk_parity/gen.py

Recorded with FastAPI 0.165.0 (the versions are in the file). The mapping is the one of
tests/fastapi_422/gen.py: a Rust integer type is an `int` with its bounds, `Option<T>` a
`T | None = None`, `#[serde(default)] Vec<T>` a `list[T] = []`, a unit enum a `str` `Enum`,
`#[serde(rename = "userName")]` a `Field(alias="userName")`.
"""

import enum
import json
import pathlib
import platform
import uuid
from typing import Annotated, Optional

import fastapi
import pydantic
import pydantic_core
from fastapi import Body, Cookie, FastAPI, File, Form, Header, Path, Query, UploadFile
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

U8 = dict(ge=0, le=255)
U16 = dict(ge=0, le=65535)
U32 = dict(ge=0, le=4294967295)
I64 = dict(ge=-9223372036854775808, le=9223372036854775807)
Int = Annotated[int, Field(**I64)]


class Mode(str, enum.Enum):
    fast = "fast"
    slow = "slow"


class Solo(str, enum.Enum):
    only = "only"


class Quote(str, enum.Enum):
    its = "it's"
    say = 'say "hi"'


app = FastAPI()


@app.get("/q")
def q(
    n: Annotated[int, Query(**I64)],
    f: Optional[float] = None,
    b: Optional[bool] = None,
    small: Annotated[Optional[int], Query(**U8)] = None,
    tags: Annotated[list[Int], Query()] = [],
    names: Annotated[list[str], Query()] = [],
    s: Optional[str] = None,
    mode: Optional[Mode] = None,
    id: Optional[uuid.UUID] = None,
):
    return {
        "n": n,
        "b": b,
        "small": small,
        "tags": tags,
        "names": names,
        "s": s,
        "mode": mode,
        "id": id,
    }


@app.get("/fl")
def fl(f: float):
    return "ok"


@app.get("/quote")
def quote(v: Quote, solo: Optional[Solo] = None):
    return "ok"


@app.get("/p/{n}")
def path_int(n: Annotated[int, Path(**I64)]):
    return n


@app.get("/s/{s}")
def path_str(s: str):
    return s


@app.get("/b/{flag}")
def path_bool(flag: bool):
    return flag


@app.get("/h")
def h(
    x_n: Annotated[Optional[int], Header(**I64)] = None,
    x_flag: Annotated[Optional[bool], Header()] = None,
    x_tags: Annotated[list[Int], Header()] = [],
    x_name: Annotated[Optional[str], Header()] = None,
):
    return {"x_n": x_n, "x_flag": x_flag, "x_tags": x_tags, "x_name": x_name}


@app.get("/c")
def c(
    sid: Annotated[Optional[str], Cookie()] = None,
    n: Annotated[Optional[int], Cookie(**I64)] = None,
    flag: Annotated[Optional[bool], Cookie()] = None,
):
    return {"sid": sid, "n": n, "flag": flag}


@app.post("/f")
def f(
    name: Annotated[str, Form()],
    age: Annotated[int, Form(**U8)],
    agree: Annotated[bool, Form()] = False,
    tags: Annotated[list[Int], Form()] = [],
):
    return {"name": name, "age": age, "agree": agree, "tags": tags}


class Child(BaseModel):
    name: str
    age: Annotated[int, Field(**U8)]


class Doc(BaseModel):
    title: str
    count: Int
    user_name: str = Field(alias="userName")
    mode: Mode
    solo: Optional[Solo] = None
    matrix: list[list[Int]] = []
    children: list[Child] = []
    extra: Int = 0
    score: Optional[float] = None


@app.post("/j")
def j(doc: Doc):
    return {"title": doc.title, "count": doc.count, "user_name": doc.user_name}


class Small(BaseModel):
    a: Int


@app.post("/oj")
def oj(body: Optional[Small] = None):
    return None if body is None else body.a


@app.post("/all/{id}")
def all_inputs(
    id: Annotated[int, Path(**U16)],
    limit: Annotated[int, Query(**U32)],
    x_n: Annotated[int, Header(**I64)],
    sid: Annotated[int, Cookie(**I64)],
    body: Small,
):
    return "ok"


@app.post("/mp")
async def mp(
    name: Annotated[str, Form()],
    age: Annotated[int, Form(**U8)],
    upload: Optional[UploadFile] = File(None),
):
    return {"name": name, "age": age, "files": 0 if upload is None else 1}


class Extra(BaseModel):
    modes: list[Mode] = []
    opt: Optional[Annotated[int, Field(ge=0, le=255)]] = None
    i8: Annotated[int, Field(ge=-128, le=127)] = 0
    bytes_: list[Annotated[int, Field(ge=0, le=255)]] = Field(default=[], alias="bytes")
    child: Optional[Child] = None


@app.post("/x")
def x(extra: Extra):
    return "ok"


@app.post("/list")
def list_body(items: list[Small]):
    return len(items)


@app.post("/int")
def int_body(n: Annotated[int, Body(**I64)]):
    return n


@app.get("/qm")
def qm(
    modes: Annotated[list[Mode], Query()] = [],
    opt: Annotated[Optional[list[Int]], Query()] = None,
):
    return {"modes": modes, "opt": opt}


@app.get("/renamed")
def renamed(
    page_size: Annotated[Optional[int], Query(alias="page-size", **U8)] = None,
    my_cookie: Annotated[Optional[int], Cookie(alias="my-cookie", **I64)] = None,
    x_list: Annotated[Optional[list[Int]], Header()] = None,
):
    return {"page_size": page_size, "my_cookie": my_cookie, "x_list": x_list}


def doc(**fields):
    value = {"title": "t", "count": 1, "userName": "u", "mode": "fast"}
    value.update(fields)
    return json.dumps(value, ensure_ascii=False)


BOUNDARY = "walkparityboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(parts):
    """parts: (name, value) for a text field, (name, filename, value) for a file."""
    out = ""
    for part in parts:
        out += f"--{BOUNDARY}\r\n"
        if len(part) == 2:
            out += f'Content-Disposition: form-data; name="{part[0]}"\r\n\r\n{part[1]}\r\n'
        else:
            out += (
                f'Content-Disposition: form-data; name="{part[0]}"; filename="{part[1]}"\r\n'
                f"Content-Type: text/plain\r\n\r\n{part[2]}\r\n"
            )
    return out + f"--{BOUNDARY}--\r\n"


FORM = "application/x-www-form-urlencoded"

# name: (method, path, body, content type, headers)
SCENARIOS = {
    # query: numbers in text
    "q_int_plus": ("GET", "/q?n=%2B5", None),
    "q_int_minus_zero": ("GET", "/q?n=-0", None),
    "q_int_leading_zeros": ("GET", "/q?n=007", None),
    "q_int_exponent": ("GET", "/q?n=1e3", None),
    "q_int_hex": ("GET", "/q?n=0x10", None),
    "q_int_i64_max_plus_one": ("GET", "/q?n=9223372036854775808", None),
    "q_int_i64_min": ("GET", "/q?n=-9223372036854775808", None),
    "q_int_inf": ("GET", "/q?n=inf", None),
    "q_int_non_ascii_digits": ("GET", "/q?n=%D9%A3", None),
    "q_u8_plus": ("GET", "/q?n=1&small=%2B255", None),
    "q_u8_minus_zero": ("GET", "/q?n=1&small=-0", None),
    "q_u8_huge_negative": ("GET", "/q?n=1&small=-99999999999999999999", None),
    "q_u8_fraction": ("GET", "/q?n=1&small=2.5", None),
    # query: bools
    "q_bool_on": ("GET", "/q?n=1&b=on", None),
    "q_bool_True": ("GET", "/q?n=1&b=True", None),
    "q_bool_Y": ("GET", "/q?n=1&b=Y", None),
    "q_bool_OFF": ("GET", "/q?n=1&b=OFF", None),
    "q_bool_1": ("GET", "/q?n=1&b=1", None),
    "q_bool_0": ("GET", "/q?n=1&b=0", None),
    "q_bool_2": ("GET", "/q?n=1&b=2", None),
    "q_bool_empty": ("GET", "/q?n=1&b=", None),
    "q_bool_space": ("GET", "/q?n=1&b=%20true", None),
    "q_bool_truee": ("GET", "/q?n=1&b=truee", None),
    # query: floats
    "q_float_inf": ("GET", "/fl?f=inf", None),
    "q_float_minus_infinity": ("GET", "/fl?f=-Infinity", None),
    "q_float_nan": ("GET", "/fl?f=nan", None),
    "q_float_plus": ("GET", "/fl?f=%2B1.5", None),
    "q_float_dot5": ("GET", "/fl?f=.5", None),
    "q_float_5dot": ("GET", "/fl?f=5.", None),
    "q_float_exponent": ("GET", "/fl?f=1e3", None),
    "q_float_huge": ("GET", "/fl?f=1e400", None),
    "q_float_empty": ("GET", "/fl?f=", None),
    "q_float_missing": ("GET", "/fl", None),
    "q_float_comma": ("GET", "/fl?f=1,5", None),
    "q_float_e": ("GET", "/fl?f=e", None),
    # query: strings, encoding, keys
    "q_str_plus_is_space": ("GET", "/q?n=1&s=a+b", None),
    "q_str_utf8": ("GET", "/q?n=1&s=caf%C3%A9%20%F0%9F%98%80", None),
    "q_str_empty": ("GET", "/q?n=1&s=", None),
    "q_key_encoded": ("GET", "/q?%6E=4", None),
    "q_repeated_scalar_last": ("GET", "/q?n=1&n=2", None),
    "q_repeated_scalar_bad_first": ("GET", "/q?n=x&n=2", None),
    "q_repeated_scalar_bad_last": ("GET", "/q?n=2&n=x", None),
    "q_no_value": ("GET", "/q?n", None),
    "q_no_value_optional": ("GET", "/q?n=1&s", None),
    "q_semicolon": ("GET", "/q?n=1;s=x", None),
    "q_amp_only": ("GET", "/q?&&n=3&&", None),
    "q_equals_in_value": ("GET", "/q?n=1&s=a=b", None),
    # query: lists
    "q_list_ints": ("GET", "/q?n=1&tags=3&tags=-1&tags=0", None),
    "q_list_bad_items": ("GET", "/q?n=1&tags=x&tags=2&tags=&tags=9223372036854775808", None),
    "q_list_comma": ("GET", "/q?n=1&tags=1,2", None),
    "q_list_brackets": ("GET", "/q?n=1&tags[]=1", None),
    "q_list_str_empty_values": ("GET", "/q?n=1&names=&names=a&names=", None),
    "q_list_str_once_empty": ("GET", "/q?n=1&names=", None),
    "q_list_int_once_empty": ("GET", "/q?n=1&tags=", None),
    "q_list_interleaved": ("GET", "/q?tags=1&n=2&tags=3", None),
    # query: enums, uuid
    "q_enum_two": ("GET", "/q?n=1&mode=quick", None),
    "q_enum_case": ("GET", "/q?n=1&mode=FAST", None),
    "q_enum_empty": ("GET", "/q?n=1&mode=", None),
    "q_enum_one": ("GET", "/quote?v=its&solo=x", None),
    "q_enum_quotes": ("GET", "/quote?v=x", None),
    "q_enum_quote_value": ("GET", "/quote?v=it%27s", None),
    "q_uuid_upper": ("GET", "/q?n=1&id=A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", None),
    "q_uuid_simple": ("GET", "/q?n=1&id=a0eebc999c0b4ef8bb6d6bb9bd380a11", None),
    "q_uuid_braced": ("GET", "/q?n=1&id=%7Ba0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11%7D", None),
    "q_uuid_urn": ("GET", "/q?n=1&id=urn:uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None),
    "q_uuid_bad_char": ("GET", "/q?n=1&id=g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None),
    "q_uuid_empty": ("GET", "/q?n=1&id=", None),
    # query: several problems
    "q_every_problem": ("GET", "/q?mode=x&id=1&tags=a&small=-1&b=x", None),
    # path
    "p_int_plus": ("GET", "/p/%2B7", None),
    "p_int_fraction": ("GET", "/p/1.5", None),
    "p_int_whole_float": ("GET", "/p/1.0", None),
    "p_int_exponent": ("GET", "/p/1e3", None),
    "p_int_huge": ("GET", "/p/99999999999999999999999", None),
    "p_int_space": ("GET", "/p/%205", None),
    "p_int_utf8": ("GET", "/p/%C3%A9", None),
    "p_str_utf8": ("GET", "/s/caf%C3%A9%20%F0%9F%98%80", None),
    "p_str_plus": ("GET", "/s/a+b", None),
    "p_str_encoded_percent": ("GET", "/s/100%25", None),
    "p_bool_yes": ("GET", "/b/yes", None),
    "p_bool_bad": ("GET", "/b/maybe", None),
    "p_bool_upper": ("GET", "/b/FALSE", None),
    # headers
    "h_int_plus": ("GET", "/h", None, None, [("x-n", "+5")]),
    "h_int_bad": ("GET", "/h", None, None, [("x-n", "5x")]),
    "h_bool_on": ("GET", "/h", None, None, [("x-flag", "on")]),
    "h_bool_bad": ("GET", "/h", None, None, [("x-flag", "yess")]),
    "h_list_comma": ("GET", "/h", None, None, [("x-tags", "1, 2")]),
    "h_list_repeated": ("GET", "/h", None, None, [("x-tags", "1"), ("x-tags", "2")]),
    "h_list_repeated_bad": ("GET", "/h", None, None, [("x-tags", "1"), ("X-Tags", "b"), ("x-tags", "c")]),
    "h_list_empty_value": ("GET", "/h", None, None, [("x-tags", "")]),
    "h_str_empty_value": ("GET", "/h", None, None, [("x-name", "")]),
    "h_str_non_ascii": ("GET", "/h", None, None, [("x-name", "café")]),
    "h_str_spaces": ("GET", "/h", None, None, [("x-name", "a  b")]),
    "h_underscore_and_hyphen": ("GET", "/h", None, None, [("x_n", "1"), ("x-n", "2")]),
    "h_underscore_only": ("GET", "/h", None, None, [("x_name", "u")]),
    "h_every_problem": ("GET", "/h", None, None, [("x-tags", "z"), ("x-flag", "z"), ("x-n", "z")]),
    # cookies
    "c_quoted": ("GET", "/c", None, None, [("cookie", 'sid="abc"')]),
    "c_quoted_space": ("GET", "/c", None, None, [("cookie", 'sid="a b"; n=1')]),
    "c_half_quoted": ("GET", "/c", None, None, [("cookie", 'sid="abc')]),
    "c_equals_in_value": ("GET", "/c", None, None, [("cookie", "sid=a=b")]),
    "c_empty_value": ("GET", "/c", None, None, [("cookie", "sid=; n=")]),
    "c_no_equals": ("GET", "/c", None, None, [("cookie", "sid; n=2")]),
    "c_spaces": ("GET", "/c", None, None, [("cookie", " sid = x ;  n = 3 ")]),
    "c_case": ("GET", "/c", None, None, [("cookie", "SID=x; N=3")]),
    "c_int_plus": ("GET", "/c", None, None, [("cookie", "n=+4")]),
    "c_bool": ("GET", "/c", None, None, [("cookie", "flag=yes")]),
    "c_bool_bad": ("GET", "/c", None, None, [("cookie", "flag=nope; n=x")]),
    "c_two_headers": ("GET", "/c", None, None, [("cookie", "sid=a"), ("cookie", "n=5")]),
    "c_trailing_semicolons": ("GET", "/c", None, None, [("cookie", "sid=a;;; n=6;")]),
    "c_escaped_octal": ("GET", "/c", None, None, [("cookie", 'sid="a\\073b"')]),
    # forms
    "f_ok": ("POST", "/f", "name=ada&age=36&agree=on&tags=1&tags=2", FORM),
    "f_repeated_scalar": ("POST", "/f", "name=a&name=b&age=1&age=2", FORM),
    "f_bool_bad": ("POST", "/f", "name=a&age=1&agree=maybe", FORM),
    "f_list_bad": ("POST", "/f", "name=a&age=1&tags=1&tags=x", FORM),
    "f_plus_and_utf8": ("POST", "/f", "name=caf%C3%A9+x&age=%2B3", FORM),
    "f_missing_and_bad": ("POST", "/f", "age=x&agree=", FORM),
    "f_key_no_value": ("POST", "/f", "name&age=1", FORM),
    "f_age_out_of_range": ("POST", "/f", "name=a&age=-1", FORM),
    "f_semicolon": ("POST", "/f", "name=a;age=1", FORM),
    "f_upper_content_type": ("POST", "/f", "name=a&age=1", "Application/X-WWW-Form-Urlencoded; charset=utf-8"),
    # JSON bodies
    "j_ok_alias": ("POST", "/j", doc()),
    "j_field_name_not_alias": ("POST", "/j", json.dumps({"title": "t", "count": 1, "user_name": "u", "mode": "fast"})),
    "j_enum_two": ("POST", "/j", doc(mode="quick")),
    "j_enum_one": ("POST", "/j", doc(solo="x")),
    "j_enum_null": ("POST", "/j", doc(mode=None)),
    "j_matrix_errors": ("POST", "/j", doc(matrix=[[1, "x"], None, [2.5, True, []]])),
    "j_children_errors": ("POST", "/j", doc(children=[{"name": "a", "age": 300}, {"age": -1}, 5, {"name": None, "age": "1"}])),
    "j_many_in_order": ("POST", "/j", json.dumps({"children": [{}], "mode": 1, "count": "x", "zzz": 1})),
    "j_null_required": ("POST", "/j", doc(title=None, count=None, userName=None)),
    "j_extra_ignored": ("POST", "/j", doc(other={"a": [1]})),
    "j_default_given_null": ("POST", "/j", doc(extra=None, matrix=None, children=None)),
    "j_big_int_for_float": ("POST", "/j", doc(score=123456789012345678901234567890)),
    "j_huge_int_overflow": ("POST", "/j", doc(count=9223372036854775808)),
    "j_huge_negative": ("POST", "/j", doc(count=-9223372036854775809)),
    "j_u64_int_for_str": ("POST", "/j", doc(title=18446744073709551615)),
    "j_i128_int_for_str": ("POST", "/j", doc(title=170141183460469231731687303715884105727)),
    "j_float_input_repr_small": ("POST", "/j", '{"title": 1e-7, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_input_repr_big": ("POST", "/j", '{"title": 1e16, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_input_repr_whole": ("POST", "/j", '{"title": 100.0, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_input_repr_neg_zero": ("POST", "/j", '{"title": -0.0, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_input_repr_exp": ("POST", "/j", '{"title": 1.5E+300, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_input_repr_tenth": ("POST", "/j", '{"title": 0.1, "count": 1, "userName": "u", "mode": "fast"}'),
    "j_float_for_int_fraction_exp": ("POST", "/j", '{"title": "t", "count": 1.5e3, "userName": "u", "mode": "fast"}'),
    "j_float_for_int_big": ("POST", "/j", '{"title": "t", "count": 1.5e300, "userName": "u", "mode": "fast"}'),
    "j_float_for_int_beyond_i64": ("POST", "/j", '{"title": "t", "count": 1e19, "userName": "u", "mode": "fast"}'),
    "j_float_for_int_i64_min": ("POST", "/j", '{"title": "t", "count": -9223372036854775808.0, "userName": "u", "mode": "fast"}'),
    "j_float_for_u8_beyond_i64": ("POST", "/j", doc(children=[{"name": "a", "age": 1e19}, {"name": "b", "age": -1e300}, {"name": "c", "age": 300.0}])),
    "j_minus_zero_for_int": ("POST", "/j", '{"title": "t", "count": -0, "userName": "u", "mode": "fast"}'),
    "j_unicode_input": ("POST", "/j", doc(count="😀 é \u2028")),
    "j_escaped_unicode_input": ("POST", "/j", '{"title": "t", "count": "\\ud83d\\ude00\\u00e9", "userName": "u", "mode": "fast"}'),
    "j_duplicate_key": ("POST", "/j", '{"title": "t", "count": 1, "count": "x", "userName": "u", "mode": "fast"}'),
    "j_duplicate_key_good_last": ("POST", "/j", '{"title": "t", "count": "x", "count": 2, "userName": "u", "mode": "fast"}'),
    "j_object_input_order": ("POST", "/j", doc(title={"b": 1, "a": [1.5, None, "x"]})),
    "j_content_type_charset": ("POST", "/j", doc(), "application/json; charset=utf-8"),
    "j_content_type_vendor": ("POST", "/j", doc(), "application/vnd.api+json"),
    "j_content_type_text": ("POST", "/j", doc(), "text/plain"),
    "j_bom": ("POST", "/j", "\ufeff" + doc()),
    # an optional JSON body
    "oj_empty": ("POST", "/oj", None),
    "oj_null": ("POST", "/oj", "null"),
    "oj_empty_object": ("POST", "/oj", "{}"),
    "oj_bad": ("POST", "/oj", '{"a": "x"}'),
    "oj_list": ("POST", "/oj", "[]"),
    "oj_ok": ("POST", "/oj", '{"a": 3}'),
    "oj_not_json": ("POST", "/oj", "{"),
    # every input at once
    "all_every_problem": (
        "POST",
        "/all/x?limit=-1",
        '{"a": "y"}',
        "application/json",
        [("x-n", "q"), ("cookie", "sid=z")],
    ),
    "all_missing": ("POST", "/all/70000", None),
    "all_body_not_json": ("POST", "/all/1?limit=x", "{", "application/json", [("x-n", "1")]),
    "all_body_not_json_every_input": ("POST", "/all/x?limit=x", "[1,", "application/json", [("x-n", "z"), ("cookie", "sid=z")]),
    "all_body_empty_and_query": ("POST", "/all/1?limit=x", "", "application/json", [("x-n", "1"), ("cookie", "sid=1")]),
    # second round
    "q_invalid_utf8": ("GET", "/q?n=1&s=%FF%FEa", None),
    "q_invalid_utf8_key": ("GET", "/q?n=1&%FF=1", None),
    "q_repeated_last_empty": ("GET", "/q?n=1&n=", None),
    "q_key_case": ("GET", "/q?N=1", None),
    "q_key_plus": ("GET", "/q?n=1&s+=x", None),
    "q_encoded_ampersand": ("GET", "/q?n=1&s=a%26n%3D2", None),
    "p_str_invalid_utf8": ("GET", "/s/%FFa", None),
    "p_int_invalid_utf8": ("GET", "/p/%FF", None),
    "f_invalid_utf8": ("POST", "/f", "name=%FFa&age=1", FORM),
    "f_empty_bool": ("POST", "/f", "name=a&age=1&agree=", FORM),
    "f_list_int_empty_twice": ("POST", "/f", "name=a&age=1&tags=&tags=", FORM),
    "qm_enum_list": ("GET", "/qm?modes=fast&modes=x&modes=SLOW", None),
    "qm_optional_list_absent": ("GET", "/qm", None),
    "qm_optional_list_bad": ("GET", "/qm?opt=1&opt=y", None),
    "x_enum_list": ("POST", "/x", json.dumps({"modes": ["slow", "x", 1, None]})),
    "x_enum_given_list_and_object": ("POST", "/x", json.dumps({"modes": [[], {}]})),
    "x_optional_u8": ("POST", "/x", json.dumps({"opt": -1, "i8": -129, "bytes": [0, 256, -1]})),
    "x_bytes_given_string": ("POST", "/x", json.dumps({"bytes": "abc"})),
    "x_child_null_and_list": ("POST", "/x", json.dumps({"child": []})),
    "x_child_problems": ("POST", "/x", json.dumps({"child": {"age": 1.5}})),
    "x_rename_alias_loc": ("POST", "/x", json.dumps({"bytes": ["a"], "bytes_": [1]})),
    "list_body_errors": ("POST", "/list", json.dumps([{"a": 1}, {}, {"a": "x"}, 3])),
    "list_body_object": ("POST", "/list", json.dumps({"a": 1})),
    "list_body_ok": ("POST", "/list", json.dumps([{"a": 1}, {"a": 2}])),
    "int_body_string": ("POST", "/int", '"x"'),
    "int_body_ok": ("POST", "/int", "5"),
    "int_body_float": ("POST", "/int", "2.5"),
    "int_body_object": ("POST", "/int", '{"n": 5}'),
    "oj_text_content_type": ("POST", "/oj", '{"a": 1}', "text/plain"),
    "oj_whitespace": ("POST", "/oj", "  "),
    "mp_age_plus": ("POST", "/mp", multipart([("name", "a"), ("age", "+3")]), MULTIPART),
    "mp_age_empty": ("POST", "/mp", multipart([("name", "a"), ("age", "")]), MULTIPART),
    "mp_only_file": ("POST", "/mp", multipart([("upload", "a.txt", "hi")]), MULTIPART),
    "mp_utf8_field": ("POST", "/mp", multipart([("name", "café 😀"), ("age", "1")]), MULTIPART),
    "mp_empty_body": ("POST", "/mp", "", MULTIPART),
    # third round
    "q_float_underscore": ("GET", "/fl?f=1_000", None),
    "q_float_space": ("GET", "/fl?f=%201.5", None),
    "q_float_minus_zero": ("GET", "/fl?f=-0", None),
    "q_float_underflow": ("GET", "/fl?f=1e-400", None),
    "q_float_hex": ("GET", "/fl?f=0x1p3", None),
    "q_float_inity": ("GET", "/fl?f=infinity", None),
    "q_float_plus_nan": ("GET", "/fl?f=%2Bnan", None),
    "q_float_snan": ("GET", "/fl?f=snan", None),
    "q_int_plus_minus": ("GET", "/q?n=%2B-5", None),
    "q_int_double_plus": ("GET", "/q?n=%2B%2B5", None),
    "q_int_underscore": ("GET", "/q?n=1_000", None),
    "renamed_bad": ("GET", "/renamed?page-size=300&page_size=1", None, None, [("cookie", "my-cookie=x; my_cookie=1"), ("x-list", "q")]),
    "renamed_ok": ("GET", "/renamed?page-size=3", None, None, [("cookie", "my-cookie=-4"), ("x-list", "1"), ("x-list", "2")]),
    "renamed_absent": ("GET", "/renamed?page_size=3", None, None, [("cookie", "my_cookie=1")]),
    "c_non_ascii": ("GET", "/c", None, None, [("cookie", "sid=café")]),
    "c_comma": ("GET", "/c", None, None, [("cookie", "sid=a,b; n=1")]),
    "c_quoted_int": ("GET", "/c", None, None, [("cookie", 'n="7"')]),
    "c_escaped_quote_unterminated": ("GET", "/c", None, None, [("cookie", 'sid="a\\"')]),
    "j_content_type_upper": ("POST", "/j", doc(), "APPLICATION/JSON"),
    "j_content_type_space_param": ("POST", "/j", doc(), "application/json ; charset=utf-8"),
    "j_content_type_x_json": ("POST", "/j", doc(), "application/x-json"),
    "j_content_type_patch": ("POST", "/j", doc(), "application/merge-patch+json"),
    "j_content_type_empty": ("POST", "/j", doc(), ""),
    "j_content_type_bad_json_text": ("POST", "/j", "{", "text/plain"),
    # multipart
    "mp_ok": ("POST", "/mp", multipart([("name", "ada"), ("age", "36")]), MULTIPART),
    "mp_with_file": ("POST", "/mp", multipart([("name", "ada"), ("age", "36"), ("upload", "a.txt", "hi")]), MULTIPART),
    "mp_bad_age": ("POST", "/mp", multipart([("name", "ada"), ("age", "x")]), MULTIPART),
    "mp_missing_name": ("POST", "/mp", multipart([("age", "300")]), MULTIPART),
    "mp_empty_field": ("POST", "/mp", multipart([("name", ""), ("age", "1")]), MULTIPART),
    "mp_repeated_field": ("POST", "/mp", multipart([("name", "a"), ("name", "b"), ("age", "1"), ("age", "2")]), MULTIPART),
}


def main():
    client = TestClient(app)
    out = {
        "_generated_by": "tests/walk_parity/gen.py",
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
        headers.extend((k, v.encode()) for k, v in extra)
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
        out["scenarios"][name] = row
    target = pathlib.Path(__file__).with_name("expected.json")
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
