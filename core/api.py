"""API conventions: the smorest ``Api``, the error schema, pagination, body checks and the JSON writer."""

from __future__ import annotations

import json
from functools import cache

import flask_smorest
import marshmallow as ma
import orjson
from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter

from core.errors import AppError

API_PREFIX = "/api/v1"
MAX_PAGE_SIZE = 100
#: The largest id there can be: both engines store ids as signed 64-bit integers.
MAX_ID = 2**63 - 1
#: Pages beyond this are refused rather than turned into an offset no database takes.
MAX_PAGE = 1_000_000
#: Methods whose body must be JSON unless the view accepts uploads.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: No body of this API nests deeper; deeper is refused before Python's parser recurses that far.
MAX_JSON_DEPTH = 32
#: No number of this API has more digits (ids and amounts fit in 64 bits): longer ones are refused.
MAX_NUMBER_DIGITS = 40


class ErrorSchema(ma.Schema):
    """The one error body of the API (documentation only)."""

    code = fields.String(metadata={"description": "snake_case reason, e.g. insufficient_points"})
    status = fields.Integer(metadata={"description": "The HTTP status, repeated"})
    message = fields.String(metadata={"description": "A sentence for people"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Problems per field: {field: [messages]}"},
    )


class Api(flask_smorest.Api):
    """flask-smorest's Api, documenting the contract's error body.

    flask-smorest registers its own handler for ``HTTPException`` when it is set up;
    ``core.errors.register_error_handlers`` runs after it (``create_app``'s order) and
    registers the application's handler for the same class, which replaces it, so every
    error is answered in the contract's one shape.
    """

    ERROR_SCHEMA = ErrorSchema


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, written by orjson: the same documents (keys sorted), several times faster.

    Reading request bodies is left as it was. What orjson does not know (lazy translations,
    dates, decimals) goes through Flask's own ``default``, so nothing is written differently
    but non-ASCII text, which is sent as UTF-8 instead of ``\\u`` escapes.
    """

    OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

    def dumps(self, obj, **kwargs) -> str:
        """Serialise ``obj`` to a JSON string."""
        return orjson.dumps(obj, default=self.default, option=self.OPTIONS).decode()


class IdConverter(IntegerConverter):
    """``<id:…>`` in URLs: an integer bounded to what the databases hold (a larger number matches no
    route: 404). Flask's own ``int`` converter stays as it is."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class PageQuerySchema(ma.Schema):
    """``page`` and ``page_size`` of a list (page size at most 100)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


@cache
def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """Return the list schema ``{items, page, page_size, total}`` for an item schema."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
            "total": fields.Integer(),
        },
        name=name,
    )


def paginate(statement, page: int = 1, page_size: int = 20) -> dict:
    """Run a select for one page and answer ``{items, page, page_size, total}``."""
    from core.extensions import db  # the extensions module imports this one

    result = db.paginate(
        statement, page=page, per_page=page_size, max_per_page=MAX_PAGE_SIZE, error_out=False
    )
    return {"items": list(result.items), "page": page, "page_size": page_size, "total": result.total or 0}


def accepts_uploads(view):
    """Mark a view that takes ``multipart/form-data`` instead of JSON."""
    view.accepts_uploads = True
    return view


def require_json_body() -> None:
    """Refuse an API body that is not JSON with 415, before any view runs."""
    if request.method not in BODY_METHODS or not request.path.startswith(API_PREFIX + "/"):
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if not has_body or request.url_rule is None:
        return  # no body, or no such route: let routing answer 404/405
    if request.is_json:
        return check_json(request.get_data(cache=True))
    view = request.url_rule and _view_function(request.url_rule.endpoint)
    if (
        view is not None
        and getattr(view, "accepts_uploads", False)
        and request.mimetype == "multipart/form-data"
    ):
        return
    raise AppError(415)


class _NumberTooLong(ValueError):
    """A number with more digits than any value of the API (and than Python converts quickly)."""


def _parse_number(text: str):
    if len(text) > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(text[:20])
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _bad_json(reason: str) -> AppError:
    return AppError(400, message=_l("The body is not valid JSON."), errors={"json": [reason]})


def check_json(data: bytes) -> None:
    """Refuse a JSON body that Python would read but no client means, before any view sees it.

    400 ``bad_request``: not JSON (NaN and Infinity included), nested deeper than
    ``MAX_JSON_DEPTH``, or text with a lone surrogate (no character at all). 422
    ``validation_error``: well-formed but out of range — a number of more than
    ``MAX_NUMBER_DIGITS`` digits, or text with a NUL character, which PostgreSQL cannot
    store (refused on both engines alike).
    """
    if not data.strip():
        return
    try:
        body = json.loads(
            data, parse_int=_parse_number, parse_float=_parse_number, parse_constant=_refuse_constant
        )
    except _NumberTooLong:
        raise AppError(
            422,
            message=_l("A value is out of range."),
            errors={"json": [f"a number has more than {MAX_NUMBER_DIGITS} digits"]},
        ) from None
    except RecursionError:
        raise _bad_json(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        raise _bad_json("Invalid JSON body.") from None
    pending = [(body, 1, "json")]
    while pending:
        value, depth, field = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise _bad_json(f"nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, field)
                pending.append((item, depth + 1, key if depth == 1 else field))
        elif isinstance(value, list):
            pending.extend((item, depth + 1, field) for item in value)
        elif isinstance(value, str):
            _check_text(value, field)


def _check_text(text: str, field: str) -> None:
    """Refuse text with a lone surrogate (400) or a NUL character (422), naming the top-level field."""
    if "\x00" in text:
        raise AppError(422, errors={field: ["must not contain the NUL character"]})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad_json(f"{field}: text with a lone surrogate, which is no character") from None


def _view_function(endpoint: str):
    """Return the function registered for an endpoint, unwrapping MethodViews."""
    from flask import current_app

    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, request.method.lower(), None)
    return view
