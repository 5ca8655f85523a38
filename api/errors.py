"""The API's errors and the one JSON body they all answer with: ``{"error", "message"}``.

A service that does not answer gives 503 naming the service and what to try; a bad request
gives 422 saying which parameter was wrong; nothing reaches the client as a bare trace.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
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
        return JSONResponse(error_body("invalid_request", _describe(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404:
            detail = f"no endpoint {request.url.path}: see /docs for the API's endpoints"
        elif exc.status_code == 400:  # Starlette could not parse the body
            detail = (
                f"the request body could not be read ({detail}): send JSON, or for an upload "
                "multipart/form-data with the recording in the field 'file'"
            )
        return JSONResponse(error_body(code, detail), status_code=exc.status_code)

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


#: What to send instead, by pydantic error type.
_HINTS = {
    "uuid_parsing": "ids are UUIDs such as 123e4567-e89b-12d3-a456-426614174000",
    "uuid_type": "ids are UUIDs such as 123e4567-e89b-12d3-a456-426614174000",
    "datetime_parsing": "use ISO 8601, e.g. 2026-11-26T09:30:00Z",
    "datetime_from_date_parsing": "use ISO 8601, e.g. 2026-11-26T09:30:00Z",
    "int_parsing": "use a whole number",
}


def _describe(exc: RequestValidationError) -> str:
    """One readable sentence per invalid parameter: where, what was given, what is wanted."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("path", "query", "body")]
        name = ".".join(loc) or "request"
        sentence = f"{name} {err.get('input')!r}: {err.get('msg', 'invalid')}"
        hint = _HINTS.get(err.get("type", ""))
        parts.append(f"{sentence} ({hint})" if hint else sentence)
    return "; ".join(parts)


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
            if operation.get("security"):
                errors["401"] = "no valid access token: get one from /api/v1/auth/token"
            for code, description in errors.items():
                answer = responses.setdefault(code, {"description": description})
                answer["content"] = body
    return schema
