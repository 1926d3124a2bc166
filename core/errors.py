"""One error shape per surface: JSON ``{code, status, message, errors}`` for the API, pages otherwise."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, InternalError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

log = logging.getLogger(__name__)

#: Paths answered in JSON; everything else is a page.
JSON_PATH_PREFIXES = ("/api/", "/healthz")

#: The contract's default code and message for each status (docs/domain.md, "Error codes").
DEFAULTS = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("Please sign in.")),
    403: ("forbidden", _l("You have no right to do this here.")),
    404: ("not_found", _l("Nothing was found at this address.")),
    405: ("method_not_allowed", _l("This method is not allowed here.")),
    409: ("conflict", _l("The request conflicts with the current state.")),
    410: ("expired", _l("This has expired.")),
    413: ("payload_too_large", _l("The request body is too large.")),
    415: ("unsupported_media_type", _l("Send the body as application/json.")),
    422: ("validation_error", _l("Some fields are missing or invalid.")),
    429: ("rate_limited", _l("Too many requests; please wait and try again.")),
    500: ("internal_error", _l("Something went wrong on our side. Please try again.")),
    503: ("unavailable", _l("The service is temporarily unavailable.")),
}


class AppError(Exception):
    """An expected refusal with the contract's code, raised by services and views."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message=None,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        default_code, default_message = DEFAULTS.get(status, DEFAULTS[400])
        super().__init__(code or default_code)
        self.status = status
        self.code = code or default_code
        # A lazy text stays untranslated until shown (``or`` would translate it here).
        self.message = message if message is not None else default_message
        self.errors = errors or {}
        self.headers = headers or {}


def wants_json() -> bool:
    """Tell whether the current request belongs to the JSON surface."""
    return request.path.startswith(JSON_PATH_PREFIXES)


def error_response(status: int, code: str, message, errors: dict | None = None, headers: dict | None = None):
    """Build the response for one error on the surface of the current request."""
    if wants_json():
        body = {"code": code, "status": status, "message": str(message), "errors": errors or {}}
        response = jsonify(body)
    else:
        response = render_template("core/error.html", status=status, code=code, message=message)
        response = Flask.response_class(response, mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages) -> dict:
    """Merge webargs' ``{location: {field: [...]}}`` into the contract's ``{field: [...]}``."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    flat: dict = {}
    for fields in messages.values():
        if isinstance(fields, dict):
            for field, problems in fields.items():
                flat.setdefault(str(field), problems)
        else:
            flat.setdefault("_schema", fields if isinstance(fields, list) else [str(fields)])
    return flat


def handle_app_error(error: AppError):
    """Answer an expected refusal."""
    return error_response(error.status, error.code, error.message, error.errors, error.headers)


def handle_http_exception(error: HTTPException):
    """Answer Werkzeug's and webargs' HTTP errors in the contract's shape."""
    status = error.code or 500
    if status >= 500:
        return handle_internal_error(error)
    code, message = DEFAULTS.get(status, ("error", error.description))
    errors: dict = {}
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        errors = flatten_messages(data["messages"])
        if status == 400 and "json" in data["messages"]:
            message = _l("The body is not valid JSON.")
    headers.update(data.get("headers") or {})
    if isinstance(error, CSRFError):
        code, message = "csrf_failed", _l("This form has expired. Please reload the page and try again.")
    if isinstance(error, SecurityError) and not wants_json():
        # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page either.
        return Flask.response_class(str(message), status=status, mimetype="text/plain")
    return error_response(status, code, message, errors, headers)


def handle_internal_error(error):
    """Log an unexpected failure and answer without a stack trace."""
    original = getattr(error, "original_exception", None) or error
    if not isinstance(original, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=original)
    code, message = DEFAULTS[500]
    return error_response(500, code, message)


def handle_database_busy(error: OperationalError | InternalError):
    """Answer 503 with Retry-After when the database stays locked, is unreachable or refuses to
    write (a read-only file, a read-only transaction, a standby); never a 500."""
    from core.extensions import db

    try:
        db.session.rollback()
    except DBAPIError:
        # The connection broke mid-statement (the server restarted under a pipelined write) and
        # cannot even roll back: throw it away; the pool opens a fresh one for the next request.
        db.session().invalidate()
    text = str(error.orig).lower()
    if "locked" in text or "busy" in text:
        log.warning("database busy on %s %s: %s", request.method, request.path, error.orig)
        return error_response(503, "unavailable", DEFAULTS[503][1], headers={"Retry-After": "1"})
    log.error("database unavailable on %s %s: %s", request.method, request.path, error.orig)
    return error_response(503, "unavailable", DEFAULTS[503][1], headers={"Retry-After": "5"})


def handle_value_out_of_range(error: Exception):
    """Answer 422 when a number or text is beyond what the database column holds; write nothing.

    Schemas bound what they can; this catches the rest (an id beyond 64 bits on SQLite,
    ``integer out of range`` or ``value too long`` on PostgreSQL).
    """
    from core.extensions import db

    db.session.rollback()
    log.info("value out of range on %s %s: %s", request.method, request.path, error)
    return error_response(422, "validation_error", _l("A value is out of range."))


def register_error_handlers(app: Flask) -> None:
    """Register the handlers once, at app level."""
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(OperationalError, handle_database_busy)
    app.register_error_handler(InternalError, handle_database_busy)
    app.register_error_handler(OverflowError, handle_value_out_of_range)
    app.register_error_handler(DataError, handle_value_out_of_range)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(InternalServerError, handle_internal_error)
