"""One error format everywhere: RFC 9457 ``application/problem+json``.

Every error the API answers with -- our :class:`AifabricError` tree, FastAPI's request validation,
unknown routes and methods, and unexpected failures -- becomes a :class:`Problem`. ``type`` is a
URN naming the kind of problem; ``detail`` says what went wrong for this request. An unexpected
failure is logged with its traceback and answered without internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from aifabric.errors import AifabricError

__all__ = ["PROBLEM_MEDIA_TYPE", "Problem", "install_handlers", "problem_response", "responses"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("aifabric.api")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: e.g. ['body', 'name'] or ['query', 'limit']")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URN of the problem kind", examples=["urn:aifabric:problem:not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(examples=["deployment 'abc' does not exist"])
    instance: str | None = Field(None, description="the request path", examples=["/api/v1/deployments/abc"])
    errors: list[ValidationIssue] | None = Field(None, description="validation problems (422 only)")


def _slug(title: str) -> str:
    return "urn:aifabric:problem:" + "-".join(title.lower().replace("'", "").split())


def problem_response(
    request: Request, status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    body = Problem(
        type=_slug(title), title=title, status=status, detail=detail, instance=request.url.path, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _validation_issues(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return jsonable_encoder(out)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AifabricError)
    async def _aifabric(request: Request, exc: AifabricError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status >= 500:
            log.warning("%s %s: %s: %s", request.method, request.url.path, exc.title, exc.detail)
        return problem_response(request, exc.status, exc.title, exc.detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = _validation_issues(exc)
        first = issues[0] if issues else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        if len(issues) > 1:
            detail += f" (and {len(issues) - 1} more)"
        return problem_response(request, 422, "Invalid request", detail, errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        return problem_response(
            request, exc.status_code, title, detail, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return problem_response(
            request, 500, "Internal error", "an unexpected error occurred; see the API log"
        )


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, unknown or revoked bearer token",
    403: "The token may not do this (admin only)",
    404: "Not found (or owned by another tenant)",
    409: "Conflict with the resource's current state",
    413: "Upload too large",
    422: "Invalid request (validation problems in `errors`)",
    503: "A part of the fabric (broker, S3, SQL, MLflow) does not answer",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: each status documented as a problem+json :class:`Problem`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in (401, 422, 503, *statuses):
        out[status] = {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


class PayloadTooLarge(AifabricError):
    """413: an upload is larger than the API accepts."""

    status = 413
    title = "Payload too large"
