"""The API's errors and the one JSON body they all answer with: ``{"error", "message"}``.

A service that does not answer gives 503 naming the service and what to try; a bad request
gives 422 saying which parameter was wrong and what is wanted, a body that is not JSON (or not
a readable form) 400, a body of a Content-Type the endpoint does not read 415, one over its
limit 413 (:mod:`api.body_limits`); nothing reaches the client as a bare trace.
"""

from __future__ import annotations

import email.message
import logging
from typing import Any, Literal

import psycopg
from fastapi import FastAPI, HTTPException, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.db import DatabaseUnavailableError, unavailable
from connectors.object_store import ObjectStoreError, ObjectStoreUnavailableError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status and a stable ``code`` for clients.

    Parameters
    ----------
    status_code : int
        HTTP status of the answer.
    code : str
        Stable machine-readable code (``job_not_found``...).
    message : str
        What was wrong and what to do, for a person.
    headers : dict or None
        HTTP headers of the answer (``WWW-Authenticate``, ``Retry-After``...).
    """

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers


class NotFound(ApiError):
    """Nothing under that id (404)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(404, code, message)


class ServiceUnavailable(ApiError):
    """A service the API needs does not answer (503)."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(503, f"{service}_unavailable", message)
        self.service = service


class BodyTooLarge(HTTPException):
    """413: a request body over its endpoint's limit (:mod:`api.body_limits`).

    A FastAPI ``HTTPException``, so that FastAPI's body reading passes it on unchanged (it
    turns any other error of the body's stream into a 400) to the app's handler.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(413, message)
        self.code = code
        self.message = message


class ErrorAnswer(BaseModel):
    """The body of every error answer (for the OpenAPI document's ``responses``)."""

    error: str = Field(description="stable code, e.g. unauthorized, job_not_found")
    message: str = Field(description="what went wrong and what to do")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": code, "message": message, **extra}


def database_unavailable(request: Request, exc: Exception) -> ServiceUnavailable:
    """The 503 for a PostgreSQL that does not answer (password redacted), worded as the
    connectors' own :func:`connectors.db.unavailable`."""
    return ServiceUnavailable(
        "postgres", str(unavailable(request.app.state.settings.postgres_url, exc))
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with ``{"error": code, "message": text}``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _invalid_answer(request, exc)
        return JSONResponse(error_body(code, message), status_code=status)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=413)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404:
            detail = f"no endpoint {request.url.path}: see /docs for the API's endpoints"
        elif exc.status_code == 400:  # FastAPI or Starlette could not parse the body
            code, detail = _unreadable(request, detail)
        return JSONResponse(
            error_body(code, detail), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(psycopg.DataError)
    async def _unstorable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # A value PostgreSQL cannot take (a NUL character, a date out of its range...).
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return JSONResponse(
            error_body(
                "invalid_request",
                f"a parameter holds a value that cannot be used ({message}): check the "
                "parameters' text (no NUL characters) and dates (years 1-9999)",
            ),
            status_code=422,
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        err = database_unavailable(request, exc)
        return JSONResponse(error_body(err.code, err.message), status_code=503)

    for kind in (DatabaseUnavailableError, PoolTimeout, psycopg.OperationalError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(ObjectStoreUnavailableError)
    async def _s3_down(request: Request, exc: ObjectStoreUnavailableError) -> JSONResponse:
        return JSONResponse(error_body("s3_unavailable", str(exc)), status_code=503)

    @app.exception_handler(ObjectStoreError)
    async def _s3_error(request: Request, exc: ObjectStoreError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=502)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                f"unexpected {type(exc).__name__} on {request.url.path}: this is a bug; the "
                "API's log has the trace, please report it",
            ),
            status_code=500,
        )


BodyMedia = Literal["json", "form", "multipart"]

#: Content types a form body may come as; a file needs multipart.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: How to send each kind of body, for the messages.
_HOW_TO_SEND = {
    "json": "send a JSON object with Content-Type: application/json (the fields are at /docs)",
    "form": "send the fields as a form (Content-Type: application/x-www-form-urlencoded, "
    "e.g. curl -d username=NAME -d password=...)",
    "multipart": "send the recording as multipart/form-data in the field 'file' "
    "(e.g. curl -F file=@recording.edf)",
}
#: Where FastAPI says an invalid value was, before its name.
_LOCATIONS = frozenset({"path", "query", "header", "cookie", "body"})
#: Fields whose values are never repeated in a message.
_SECRET_FIELDS = frozenset({"password", "client_secret"})
#: Longest echo of an invalid value in a message, characters.
MAX_SHOWN_CHARS = 80

#: What to send instead, by pydantic error type.
_HINTS = {
    "uuid_parsing": "ids are UUIDs such as 123e4567-e89b-12d3-a456-426614174000",
    "uuid_type": "ids are UUIDs such as 123e4567-e89b-12d3-a456-426614174000",
    "datetime_parsing": "use ISO 8601, e.g. 2026-11-26T09:30:00Z",
    "datetime_from_date_parsing": "use ISO 8601, e.g. 2026-11-26T09:30:00Z",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "use a string, in double quotes",
    "list_type": "use a JSON array",
    "model_attributes_type": "use a JSON object, {...}",
    "dict_type": "use a JSON object, {...}",
    "extra_forbidden": "remove it: the fields this endpoint takes are at /docs",
}


def body_media(route: object) -> BodyMedia | None:
    """How the route takes its body: JSON, a form, a multipart form with a file; None
    when it takes none (or is not a FastAPI route)."""
    field = getattr(route, "body_field", None)
    if field is None:
        return None
    if isinstance(field.field_info, params.File):
        return "multipart"
    if isinstance(field.field_info, params.Form):
        return "form"
    return "json"


def _media_type(request: Request) -> str | None:
    """The request's ``type/subtype``, lower case; None without a Content-Type."""
    value = request.headers.get("content-type")
    if not value:
        return None
    message = email.message.Message()
    message["content-type"] = value
    return message.get_content_type()


def _wrong_media(request: Request, media: BodyMedia) -> str | None:
    """Why the request's Content-Type is not one the route reads; None when it is."""
    given = _media_type(request)
    if media == "json":
        if given is not None and (given == "application/json" or given.endswith("+json")):
            return None
        wanted = "application/json"
    else:
        accepted = _FORM_TYPES if media == "form" else _FORM_TYPES[1:]
        if given in accepted:
            return None
        wanted = " or ".join(accepted)
    shown = f"Content-Type {given}" if given else "a body without Content-Type"
    return f"this endpoint reads {wanted}, not {shown}: {_HOW_TO_SEND[media]}"


def _invalid_answer(request: Request, exc: RequestValidationError) -> tuple[int, str, str]:
    """Status, code and message of a request FastAPI could not validate: 400 for a body
    that is not JSON, 415 for a body of a type the endpoint does not read, else 422."""
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "not JSON")
            return (
                400,
                "invalid_json",
                f"the body is not valid JSON ({reason} at character {err['loc'][-1]}): "
                + _HOW_TO_SEND["json"],
            )
    media = body_media(request.scope.get("route"))
    if media is not None and any(err.get("loc", ())[:1] == ("body",) for err in errors):
        wrong = _wrong_media(request, media)
        if wrong is not None:
            return 415, "unsupported_media_type", wrong
    return 422, "invalid_request", _describe(errors)


def _unreadable(request: Request, detail: str) -> tuple[str, str]:
    """Code and message of a body that could not be parsed (FastAPI's and Starlette's 400)."""
    media = body_media(request.scope.get("route"))
    if media == "json":
        return (
            "invalid_json",
            f"the body could not be read as JSON ({detail}; is it UTF-8 text?): "
            + _HOW_TO_SEND["json"],
        )
    kind = _media_type(request) or "a form"
    return (
        "invalid_form",
        f"the body could not be read as {kind} ({detail}): " + _HOW_TO_SEND[media or "multipart"],
    )


def _describe(errors: list[Any]) -> str:
    """One readable sentence per invalid parameter: where, what was given, what is wanted."""
    parts = []
    for err in errors:
        where = [str(p) for p in err.get("loc", ())]
        loc = [p for p in where if p not in _LOCATIONS]
        name = ".".join(loc) or (where[0] if where else "request")
        message = err.get("msg", "invalid")
        if err.get("type") == "missing":
            sentence = f"{name}: {message}"
        elif loc and loc[-1] in _SECRET_FIELDS:
            sentence = f"{name} (not shown): {message}"
        else:
            sentence = f"{name} {_shown(err.get('input'))}: {message}"
        hint = _HINTS.get(err.get("type", ""))
        parts.append(f"{sentence} ({hint})" if hint else sentence)
    return "; ".join(parts)


def _shown(value: Any) -> str:
    """The value as a message repeats it, cut to :data:`MAX_SHOWN_CHARS`."""
    text = repr(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return text[: MAX_SHOWN_CHARS - 3] + "..."


#: Errors any endpoint may answer, besides its own.
COMMON_ERRORS = {
    "404": "nothing under that id (or it is another user's)",
    "422": "a parameter or the body is invalid; the message says which and what is wanted",
    "500": "a bug: the API's log has the trace",
    "503": "a service the API needs does not answer; the message names it",
}


def describe_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every operation's errors in the one error body.

    FastAPI documents its validation errors with its own ``HTTPValidationError``; this API
    answers them (and 401, 404, 503...) with :class:`ErrorAnswer`, so the document says so.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorAnswer"] = ErrorAnswer.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if "requestBody" in operation:
                errors["400"] = "the body could not be parsed (not JSON, broken multipart)"
                errors["413"] = "the body is over the endpoint's size limit"
                errors["415"] = "the body's Content-Type is not one the endpoint reads"
            if operation.get("security"):
                errors["401"] = "no valid access token: get one from /api/v1/auth/token"
            for code, description in errors.items():
                answer = responses.setdefault(code, {"description": description})
                answer["content"] = body
    return schema
