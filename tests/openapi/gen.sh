#!/usr/bin/env bash
# Writes tests/openapi/fastapi_notes.json: the OpenAPI document FastAPI generates for the notes
# API written in FastAPI (tests/openapi/notes_fastapi.py). Run by hand when the notes API
# changes; CI and the Rust tests only read the checked-in output.
#
# The virtual environment lives in target/openapi-venv; FastAPI and pydantic are pinned to the
# versions tests/fastapi_422/expected.json was generated with.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/openapi-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    'fastapi==0.165.0' 'pydantic==2.14.4' 'openapi-spec-validator==0.9.0'

out=tests/openapi/fastapi_notes.json
(cd tests/openapi && "../../$venv/bin/python" notes_fastapi.py) > "$out.tmp"
"$venv/bin/openapi-spec-validator" "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
