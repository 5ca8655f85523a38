"""Malformed bodies, wrong types, wrong Content-Types, oversized bodies and wrong-typed
parameters on every endpoint: a 4xx in the error envelope that names the problem, never a
5xx, and nothing stored.

The endpoints are walked from the app's routes (every method of every ``APIRoute``), their
parameters and bodies read from the app's own OpenAPI document, so a route added later is
covered without touching this file. Each bad request is a variant of the route's valid
request (built from the document, with real ids from :data:`VALID_VALUES`), which is sent
last and must be accepted: each refusal is then for the one thing broken.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.body_limits import MULTIPART_ENVELOPE_BYTES
from api.errors import BodyMedia, body_media
from api.security import issue_token
from connectors.db.migrate import migrate
from connectors.kafka_topics import Topics, ensure_topics
from connectors.object_store import ObjectStore
from connectors.settings import Settings, get_settings
from processors.synthetic import generate_eeg
from tests.integration.api_client import PASSWORD, Login, new_user
from tests.integration.workers import stream_settings

pytestmark = pytest.mark.integration

#: Small limits, so that an oversized body is quick to send; the recording uploaded by
#: the fixture is larger than the JSON limit and smaller than the upload limit.
JSON_LIMIT_BYTES = 16 * 1024
UPLOAD_LIMIT_BYTES = 1024 * 1024
#: Content types of each kind of body, as the OpenAPI document names them.
MEDIA_OF_CONTENT = {
    "application/json": "json",
    "application/x-www-form-urlencoded": "form",
    "multipart/form-data": "multipart",
}
SETTING_OF_LIMIT = {"multipart": "BRRR_UPLOAD_MAX_BYTES"}
#: Endpoints whose valid request stores something :meth:`Api.stored` sees (which shows that
#: it would see what a refused one stored).
STORING = {"POST /api/v1/eeg/upload", "POST /api/v1/eeg/analyze", "POST /api/v1/batch/analyze"}
NUL_VALUE = "a\x00b"


@dataclass(frozen=True)
class Endpoint:
    """One method of one route, as the OpenAPI document describes it."""

    method: str
    path: str
    #: the operation of the OpenAPI document; empty for a route left out of it
    operation: dict[str, Any]
    media: BodyMedia | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return [p for p in self.operation.get("parameters", []) if p["in"] in ("path", "query")]

    def url(self, **values: str) -> str:
        """The path with each path parameter filled (``values``, else a fresh UUID)."""
        url = self.path
        for param in self.parameters:
            if param["in"] == "path":
                url = url.replace(f"{{{param['name']}}}", values.get(param["name"], _uuid()))
        return url


def walk(app: FastAPI) -> list[Endpoint]:
    """Every method of every ``APIRoute`` of ``app``, with its operation and its body."""
    document = app.openapi()
    endpoints = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(context.methods or ()):
            operation = document["paths"].get(context.path, {}).get(method.lower(), {})
            media = body_media(route)
            if media is not None:
                # The document must say how the body is sent: this test reads it there.
                (content,) = operation["requestBody"]["content"]
                assert MEDIA_OF_CONTENT[content] == media, (context.path, content, media)
            endpoints.append(Endpoint(method, context.path, operation, media))
    return endpoints


_APP = create_app(get_settings())
_DOCUMENT = _APP.openapi()
ENDPOINTS = walk(_APP)
WITH_BODY = [e for e in ENDPOINTS if e.media is not None]
WITH_PARAMETERS = [e for e in ENDPOINTS if e.parameters]


@dataclass(frozen=True)
class Stored:
    """What a request could have stored for the test's user."""

    uploads: int
    identities: int
    jobs: int
    batches: int
    raw_objects: frozenset[str]


class Api:
    """The app under the test's limits, its user, their uploaded file, and what is stored."""

    def __init__(self, settings: Settings, client: TestClient, login: Login, folder: Path):
        self.settings = settings
        self.client = client
        self.login = login
        token = issue_token(
            login.user.user_id, settings.jwt_secret.get_secret_value(), settings.token_expiry_s
        )
        self.headers = {"Authorization": f"Bearer {token.token}"}
        self.store = ObjectStore.from_settings(settings)
        self.recording = generate_eeg(30.0, seed=11).write_edf(folder / "recording.edf")
        self.file_id = ""  # set by the fixture's upload

    def stored(self) -> Stored:
        user = self.login.user.user_id
        with psycopg.connect(self.settings.postgres_url) as conn:
            (uploads, identities, jobs, batches) = conn.execute(
                """
                SELECT (SELECT count(*) FROM uploaded_files WHERE uploaded_by = %(u)s),
                       (SELECT count(*) FROM patient_identities i
                          JOIN uploaded_files f USING (file_id) WHERE f.uploaded_by = %(u)s),
                       (SELECT count(*) FROM analysis_jobs WHERE owner_id = %(u)s),
                       (SELECT count(*) FROM batches WHERE created_by = %(u)s)
                """,
                {"u": user},
            ).fetchone()
        return Stored(uploads, identities, jobs, batches, frozenset(self.store.list("raw/")))

    def valid_values(self) -> dict[str, Any]:
        """Values of body fields that a valid request needs (ids of real things)."""
        return {
            "file_id": self.file_id,
            "file_ids": [self.file_id],
            "username": self.login.user.name,
            "password": PASSWORD,
            "grant_type": "password",
            "file": ("recording.edf", self.recording.read_bytes()),
        }

    def send(self, endpoint: Endpoint, url: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(
            endpoint.method, url or endpoint.url(), headers=headers, **kwargs
        )


@pytest.fixture(scope="module")
def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    migrate(stack.postgres_url)
    namespace = f"it-bodies-{uuid.uuid4().hex[:8]}"  # the analyses queued reach no worker
    ensure_topics(stack.kafka_bootstrap_servers, Topics(namespace).partitions)
    settings = stream_settings(
        stack,
        namespace,
        api_max_json_bytes=JSON_LIMIT_BYTES,
        upload_max_bytes=UPLOAD_LIMIT_BYTES,
    )
    login = asyncio.run(new_user(settings.postgres_url, prefix="it-bodies"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(settings, client, login, tmp_path_factory.mktemp("bodies"))
        size = api.recording.stat().st_size
        assert JSON_LIMIT_BYTES < size < UPLOAD_LIMIT_BYTES, size
        # The upload takes more than the JSON limit: its own limit applies to it.
        with api.recording.open("rb") as fid:
            r = client.post(
                "/api/v1/eeg/upload", files={"file": ("recording.edf", fid)}, headers=api.headers
            )
        assert r.status_code == 200, r.text
        api.file_id = r.json()["file_id"]
        yield api


def test_the_walk_finds_every_endpoint() -> None:
    walked = {str(e) for e in ENDPOINTS}
    assert {
        "POST /api/v1/auth/token",
        "POST /api/v1/eeg/upload",
        "POST /api/v1/eeg/analyze",
        "POST /api/v1/batch/analyze",
        "GET /api/v1/jobs/{job_id}",
        "GET /api/v1/alerts",
        "GET /metrics",
    } <= walked
    assert {e.media for e in WITH_BODY} == {"json", "form", "multipart"}


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_bad_bodies_are_refused_in_the_envelope_and_nothing_is_stored(
    api: Api, endpoint: Endpoint
) -> None:
    schema = _body_schema(endpoint)
    valid = _valid_body(schema, api.valid_values(), whole=endpoint.media == "json")
    before = api.stored()
    cases = _json_cases(schema, valid) if endpoint.media == "json" else _form_cases(schema, valid)
    cases += _media_cases(endpoint, valid)
    for case in cases:
        r = api.send(endpoint, **case.request)
        _assert_refused(r, case, endpoint)
    assert api.stored() == before, f"{endpoint}: a refused request stored something"
    # The valid request these variants were made from is accepted.
    r = api.send(endpoint, **_encoded(endpoint.media, valid))
    assert 200 <= r.status_code < 300, (
        f"{endpoint}: the valid request was refused ({r.text}); if the route is new, add "
        "valid values of its fields to Api.valid_values"
    )
    if str(endpoint) in STORING:
        assert api.stored() != before, f"{endpoint}: the valid request stored nothing seen"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_oversized_bodies_are_413_before_they_are_read(api: Api, endpoint: Endpoint) -> None:
    media = endpoint.media or "json"
    limit = JSON_LIMIT_BYTES
    if media == "multipart":
        limit = UPLOAD_LIMIT_BYTES + MULTIPART_ENVELOPE_BYTES
    setting = SETTING_OF_LIMIT.get(media, "BRRR_API_MAX_JSON_BYTES")
    code = "file_too_large" if media == "multipart" else "body_too_large"
    content_type = _content_type_of(media)
    before = api.stored()
    body = _padded(media, limit + 1)
    assert len(body) == limit + 1
    answers = [
        (api.send(endpoint, content=body, headers={"content-type": content_type}), "declared")
    ]
    if endpoint.media is not None:  # a route that reads no body never counts one
        chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
        # An iterator: sent chunked, without Content-Length; counted while it is read.
        chunked = api.send(endpoint, content=iter(chunks), headers={"content-type": content_type})
        answers.append((chunked, "chunked"))
    for r, how in answers:
        case = Case(f"body of {limit + 1} bytes, {how}", {}, 413, code, (setting,))
        _assert_refused(r, case, endpoint)
    assert api.stored() == before, f"{endpoint}: an oversized request stored something"
    if endpoint.media == "json":  # at the limit: read (and refused for its content only)
        r = api.send(
            endpoint, content=_padded(media, limit), headers={"content-type": content_type}
        )
        assert r.status_code != 413 and r.status_code < 500, r.text


@pytest.mark.parametrize("endpoint", WITH_PARAMETERS, ids=str)
def test_wrong_typed_parameters_are_4xx_naming_them(api: Api, endpoint: Endpoint) -> None:
    before = api.stored()
    for param in endpoint.parameters:
        name = param["name"]
        for value, needles, status in _wrong_parameter_values(param):
            if param["in"] == "path":
                r = api.send(endpoint, url=endpoint.url(**{name: quote(value, safe="")}))
            else:
                r = api.send(endpoint, params={name: value})
            case = Case(f"{param['in']} {name}={value!r}", {}, status, None, needles)
            _assert_refused(r, case, endpoint)
    assert api.stored() == before, f"{endpoint}: a refused request stored something"


# --- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad request and what its answer must be.

    ``status`` is one status or None for any 4xx; ``code`` the error code or None for any;
    the message must contain one of ``needles`` (all of them when ``every`` is set).
    """

    name: str
    request: dict[str, Any]
    status: int | None
    code: str | None
    needles: tuple[str, ...]
    every: bool = False


def _json_cases(schema: dict[str, Any], valid: dict[str, Any]) -> list[Case]:
    text = json.dumps(valid)
    json_type = {"content-type": "application/json"}
    cases = [
        Case(
            "malformed JSON",
            {"content": text[: len(text) // 2].encode(), "headers": json_type},
            400,
            "invalid_json",
            ("not valid JSON",),
        ),
        Case(
            "not UTF-8",
            {"content": b'{"\xff\xfe": 1}', "headers": json_type},
            400,
            "invalid_json",
            ("JSON",),
        ),
        Case("a JSON array", {"json": [valid]}, 422, "invalid_request", ("body",)),
        Case("a JSON string", {"json": "text"}, 422, "invalid_request", ("body",)),
        Case("a JSON number", {"json": 12}, 422, "invalid_request", ("body",)),
        Case("JSON null", {"content": b"null", "headers": json_type}, 422, None, ("body",)),
    ]
    required = tuple(schema.get("required", ()))
    if required:
        cases.append(Case("no fields", {"json": {}}, 422, "invalid_request", required, every=True))
    if schema.get("additionalProperties") is False:
        cases.append(
            Case(
                "an unknown field",
                {"json": {**valid, "no_such_field": 1}},
                422,
                "invalid_request",
                ("no_such_field",),
            )
        )
    for where, wrong, needles in _wrong_fields(schema, ()):
        body = copy.deepcopy(valid)
        _put(body, where, wrong)
        cases.append(
            Case(
                f"{'.'.join(where)}={wrong!r}",
                {"json": body},
                422,
                "invalid_request",
                needles,
                every=True,
            )
        )
    return cases


def _form_cases(schema: dict[str, Any], valid: dict[str, Any]) -> list[Case]:
    required = tuple(schema.get("required", ()))
    placeholder = {"files": {"placeholder": ("placeholder.txt", b"x")}}
    cases = [
        Case(
            "garbage multipart",
            {
                "content": b"garbage\x00\xff" * 20,
                "headers": {"content-type": "multipart/form-data; boundary=brrr"},
            },
            400,
            "invalid_form",
            ("multipart",),
        ),
        Case("no fields", placeholder, 422, "invalid_request", required, every=True),
    ]
    for name, field in schema.get("properties", {}).items():
        field = _resolved(field)
        fields = {k: v for k, v in valid.items() if k != name}
        data = {k: v for k, v in fields.items() if not isinstance(v, tuple)}
        files = {k: v for k, v in fields.items() if isinstance(v, tuple)}
        if _is_file(field):  # a text field where a file belongs
            request = {"data": {**data, name: "not a file"}, "files": files or placeholder["files"]}
        elif "pattern" in field or "enum" in field:
            request = {"data": {**data, name: "no-such-value"}, "files": files or None}
        else:
            continue  # any text is a form field's valid type
        cases.append(Case(f"{name} of the wrong kind", request, 422, "invalid_request", (name,)))
    return cases


def _media_cases(endpoint: Endpoint, valid: dict[str, Any]) -> list[Case]:
    """The valid body under Content-Types the endpoint does not read: 415 naming the one it
    reads."""
    wanted = {"json": "application/json", "form": "form", "multipart": "multipart/form-data"}[
        endpoint.media or "json"
    ]
    if endpoint.media == "json":
        text = json.dumps(valid).encode()
        return [
            Case(
                "JSON as text/plain",
                {"content": text, "headers": {"content-type": "text/plain"}},
                415,
                "unsupported_media_type",
                (wanted, "text/plain"),
                every=True,
            ),
            Case(
                "JSON without Content-Type",
                {"content": text},
                415,
                "unsupported_media_type",
                (wanted, "without Content-Type"),
                every=True,
            ),
        ]
    plain = {k: v for k, v in valid.items() if not isinstance(v, tuple)}
    cases = [
        Case(
            "JSON",
            {"json": plain or {"x": 1}},
            415,
            "unsupported_media_type",
            (wanted, "application/json"),
            every=True,
        ),
        Case(
            "a JSON array",
            {"json": [plain]},
            415,
            "unsupported_media_type",
            (wanted, "application/json"),
            every=True,
        ),
    ]
    if endpoint.media == "multipart":  # a file cannot come as a url-encoded form
        cases.append(
            Case(
                "a url-encoded form",
                {"data": plain or {"x": "1"}},
                415,
                "unsupported_media_type",
                (wanted, "x-www-form-urlencoded"),
                every=True,
            )
        )
    return cases


def _wrong_parameter_values(param: dict[str, Any]) -> list[tuple[str, tuple[str, ...], int | None]]:
    """(value, what the message names, status) of wrong values of a path or query parameter."""
    name = param["name"]
    schema = _resolved(param.get("schema", {}))
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return [("not-a-number", (name, "not-a-number"), 422), ("1.5e", (name,), 422)]
    if kind == "boolean":
        return [("maybe", (name,), 422)]
    if schema.get("format") == "date-time":
        return [("not-a-date", (name, "ISO 8601"), 422)]
    # Any text is a string's type; but no text holds NUL, and no id is any text.
    values = [(NUL_VALUE, (name, "NUL", repr(NUL_VALUE)[1:-1]), None)]
    if param["in"] == "path":
        values.append(("not-an-id-" + "x" * 300, (name, "not-an-id"), None))
    return values


def _wrong_fields(
    schema: dict[str, Any], where: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Any, tuple[str, ...]]]:
    """(where, wrong value, what the message names) for every field, nested ones included."""
    for name, field in schema.get("properties", {}).items():
        field = _resolved(field)
        at = (*where, name)
        dotted = ".".join(at)
        if "enum" in field:
            yield at, "no-such-value", (dotted, repr(field["enum"][0]))
        elif "const" in field:
            yield at, not field["const"] if isinstance(field["const"], bool) else "x", (dotted,)
        kind = field.get("type")
        wrong = {
            "string": 12345,
            "integer": "not-a-number",
            "number": "not-a-number",
            "boolean": "maybe",
            "array": "not-a-list",
            "object": "not-an-object",
        }.get(kind)
        if wrong is not None:
            yield at, wrong, (dotted,)
        if kind == "array" and _resolved(field.get("items", {})).get("type") == "string":
            yield at, [12345], (dotted,)
        if kind == "object":
            yield from _wrong_fields(field, at)


# --- the valid request ---------------------------------------------------------------------


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``$ref`` followed and a nullable ``anyOf`` unwrapped."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {
            **_DOCUMENT["components"]["schemas"][name],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**rest, **_resolved(options[0])}
    return schema


def _body_schema(endpoint: Endpoint) -> dict[str, Any]:
    (content,) = endpoint.operation["requestBody"]["content"].values()
    return _resolved(content["schema"])


def _valid_body(schema: dict[str, Any], known: dict[str, Any], *, whole: bool) -> dict[str, Any]:
    """A body the endpoint accepts: known values, else one its schema allows; every field
    when ``whole`` (so that nested ones are tested too), else the required ones."""
    body = {}
    for name, field in schema.get("properties", {}).items():
        if not whole and name not in schema.get("required", ()) and name not in known:
            continue
        body[name] = known[name] if name in known else _valid_value(_resolved(field), known)
    return body


def _valid_value(field: dict[str, Any], known: dict[str, Any]) -> Any:
    if "const" in field:
        return field["const"]
    if "enum" in field:
        return field["enum"][0]
    if "default" in field:
        return field["default"]
    kind = field.get("type")
    if kind == "object":
        return _valid_body(field, known, whole=True)
    if kind == "array":
        return [_valid_value(_resolved(field.get("items", {})), known)] * max(
            1, field.get("minItems", 1)
        )
    return {"boolean": True, "integer": field.get("minimum", 1), "number": 1.0}.get(kind, "x")


def _is_file(field: dict[str, Any]) -> bool:
    return field.get("format") == "binary" or "contentMediaType" in field


def _encoded(media: BodyMedia | None, body: dict[str, Any]) -> dict[str, Any]:
    """httpx arguments sending ``body`` as the endpoint reads it."""
    if media == "json":
        return {"json": body}
    data = {k: v for k, v in body.items() if not isinstance(v, tuple)}
    files = {k: v for k, v in body.items() if isinstance(v, tuple)}
    return {"data": data, "files": files or None}


def _content_type_of(media: BodyMedia) -> str:
    return {
        "json": "application/json",
        "form": "application/x-www-form-urlencoded",
        "multipart": "multipart/form-data; boundary=brrr",
    }[media]


def _padded(media: BodyMedia, n_bytes: int) -> bytes:
    """A well-formed body of exactly ``n_bytes`` of the kind the endpoint reads."""
    if media == "json":
        head, tail = b'{"padding": "', b'"}'
    elif media == "form":
        head, tail = b"padding=", b""
    else:
        head = (
            b'--brrr\r\nContent-Disposition: form-data; name="file"; filename="big.edf"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        tail = b"\r\n--brrr--\r\n"
    return head + b"x" * (n_bytes - len(head) - len(tail)) + tail


def _put(body: dict[str, Any], where: tuple[str, ...], value: Any) -> None:
    for name in where[:-1]:
        body = body[name]
    body[where[-1]] = value


def _uuid() -> str:
    return str(uuid.uuid4())


def _assert_refused(r: httpx.Response, case: Case, endpoint: Endpoint) -> None:
    where = f"{endpoint}, {case.name}: {r.status_code} {r.text[:500]}"
    assert 400 <= r.status_code < 500, where
    if case.status is not None:
        assert r.status_code == case.status, where
    body = r.json()
    assert set(body) == {"error", "message"}, where
    assert isinstance(body["error"], str) and body["error"], where
    assert isinstance(body["message"], str) and body["message"], where
    if case.code is not None:
        assert body["error"] == case.code, where
    found = [needle in body["message"] for needle in case.needles]
    assert all(found) if case.every else any(found), f"{where} (wanted {case.needles})"
