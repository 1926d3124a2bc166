"""One-time form tokens: every page form that writes is safe to submit twice.

A double tap, a reload after posting or a weak signal sends a form again. Each form
that writes carries a hidden ``form_token`` (a fresh random value each time the page
is drawn, ``{{ form_token() }}`` in the template); its view is decorated with
``@once_per_form``. The token is the request's idempotency key (``core.idempotency``,
scoped to the member and the path): the first submit runs and its answer is kept —
the redirect and the messages it flashed, or the page it drew — and any later submit
of the same form gets that same answer instead of running again. A second submit that
arrives while the first still runs waits for it (up to ``WAIT_SECONDS``), so a double
tap shows one result. The same token with other fields (the page kept by the browser,
edited and sent again) is refused with a clear page: open the form again.

Where the answer shows something that must be shown only once (activation codes),
``@once_per_form(keep_answer=False)`` keeps only that it happened; a second submit
then says so instead of showing it again.

A new page form that writes needs three things::

    <form method="post">{{ form.csrf_token }}{{ form_token() }} …</form>

    @bp.post("/things")
    @login_required
    @once_per_form           # below login_required: the key belongs to the signed-in member
    def create_thing(): …

and a test that it writes once (``tests/core/test_form_tokens.py`` shows how). Forms
without a token (a script or an old page) run as before. ``core/static/js/forms.js``
also disables the button while the request runs, so most double taps never reach us.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from functools import wraps

from flask import Response, flash, redirect, request, session
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core.errors import AppError
from core.idempotency import DONE, claim_key, read_claim, request_hash, run_claimed, store_answer
from core.identity.auth import current_member

FIELD = "form_token"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: How long a second submit waits for the first one to finish before saying it still runs.
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.1
#: Where Flask keeps the messages flashed for the next page.
FLASHES = "_flashes"


def form_token() -> Markup:
    """A hidden field with a fresh one-time token (a Jinja global: ``{{ form_token() }}``)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, secrets.token_urlsafe(16))


def once_per_form(view=None, *, keep_answer: bool = True):
    """Run a page's POST once per form token; a repeated submit gets the first answer."""
    if view is None:
        return lambda wrapped: once_per_form(wrapped, keep_answer=keep_answer)

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = request.form.get(FIELD) if request.method == "POST" else None
        member = current_member(required=False)
        if not token or member is None:
            return view(*args, **kwargs)
        if not TOKEN_PATTERN.fullmatch(token):
            raise AppError(400, errors={FIELD: ["malformed"]})
        # Read now: claiming ends the request's transaction, and reading the member again would
        # begin another (a writer's, on SQLite) held all the while this request waits.
        member_id, key, digest = member.id, f"{FIELD}:{token}", request_hash()
        claim = claim_key(member_id, request.path, key, digest)
        while not claim.owned:
            claim = _wait_for_first(member_id, key, claim, digest)
            if claim.state == DONE:
                return _replay(claim)
        return _run_first(claim, view, args, kwargs, keep_answer)

    wrapper.once_per_form = True  # lets a test list the page views that honour form tokens
    return wrapper


def _wait_for_first(member_id: int, key: str, claim, digest: str):
    """Wait until the first submit of this form is done; claim the key if it failed and let go."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if claim.request_hash != digest:
            raise AppError(
                422,
                "idempotency_conflict",
                _l("This form was already sent with other details. Open the page again to send new ones."),
            )
        if claim.state == DONE:
            return claim
        if time.monotonic() > deadline:
            raise AppError(
                409,
                "request_in_progress",
                _l("Your first tap is still being handled. Wait a moment, then check the result."),
            )
        time.sleep(POLL_SECONDS)
        current = read_claim(member_id, request.path, key)
        if current is None:  # the first submit failed and freed the key: this one runs instead
            return claim_key(member_id, request.path, key, digest)
        claim = current


def _run_first(claim, view, args, kwargs, keep_answer: bool):
    """Run the view under the claim and keep its answer with the messages it flashed."""
    flashed_before = len(session.get(FLASHES, []))

    def keep(claim, response: Response) -> None:
        _keep(claim, response, session.get(FLASHES, [])[flashed_before:], keep_answer)

    return run_claimed(claim, view, args, kwargs, keep)


def _keep(claim, response: Response, flashes: list, keep_answer: bool) -> None:
    """Store what the member saw: the redirect and its messages, or the page drawn."""
    answer = {
        "location": response.headers.get("Location"),
        "flashes": [list(pair) for pair in flashes],
        "mimetype": response.mimetype,
    }
    if keep_answer and answer["location"] is None:
        answer["body"] = response.get_data(as_text=True)
    if not keep_answer:
        answer = {"shown_once": True}
    store_answer(claim, response.status_code, json.dumps(answer, ensure_ascii=False))


def _replay(claim):
    """Answer a repeated submit with the first one's answer."""
    answer = json.loads(claim.response_body or "{}")
    if answer.get("shown_once"):
        raise AppError(
            409,
            "invalid_state",
            _l("This form was already sent and its result was shown once; it is not shown again."),
        )
    for category, message in answer.get("flashes", []):
        flash(message, category)
    if answer.get("location"):
        return redirect(answer["location"], claim.response_status)
    return Response(
        answer.get("body", ""), status=claim.response_status, mimetype=answer.get("mimetype") or "text/html"
    )


def init_form_tokens(app) -> None:
    """Offer ``form_token()`` to every template."""
    app.jinja_env.globals["form_token"] = form_token
