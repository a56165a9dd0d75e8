"""RFC 9457 problem details for every error the API returns, including unexpected ones."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, json
from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import HTTPException, InternalServerError

from consortium.errors import DomainError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemSchema(Schema):
    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(strict=True, metadata={"example": 422})
    detail = fields.String(metadata={"example": "The request has invalid fields."})
    errors = fields.Dict(
        metadata={"description": "Field-level messages, by location and field name."}
    )


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


class ProblemApi(Api):
    """flask-smorest's Api, answering errors as problem+json instead of its own format."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        super()._register_error_handlers()
        self._app.register_error_handler(Exception, self._handle_unexpected)

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        extra: dict[str, Any] = {}
        errors = data.get("errors") or data.get("messages")
        if errors:
            # Nested by location (json, query) and field: it tells the client where to look.
            extra["errors"] = errors
        detail = data.get("message") or error.description
        if errors and not data.get("message"):
            detail = "The request has invalid fields; see errors."
        response = problem(error.code or 500, error.name, detail, **extra)
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    def _handle_unexpected(self, error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        if isinstance(error, DomainError):
            extra = {"errors": {"json": error.errors}} if error.errors else {}
            response = problem(error.status, error.title, error.message, **extra)
            response.headers.update(error.headers)
            return response
        if isinstance(error, ValidationError):
            return problem(
                422,
                "Unprocessable Entity",
                "The request has invalid fields; see errors.",
                errors={"json": error.messages},
            )
        if isinstance(error, RecursionError):
            # Python's JSON parser gives up on absurdly nested input this way.
            return problem(400, "Bad Request", "The request body is nested too deeply.")
        log.exception("unhandled error")
        return self.handle_http_exception(InternalServerError())
