"""What the console's page modules share: who may open a page, paging, a read that may be
unprocessable, the choices of a place or an activity, and the validate → save → refusal shape of
every page form that writes (``save_form``; ``submit`` when a saved form goes back to a page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import flash, redirect, request
from flask_babel import gettext as _

from core.errors import AppError
from core.identity.access import require_somewhere
from core.identity.auth import current_member
from core.identity.services import list_units_in_scope
from core.views import show_refusal
from points.activities import list_managed_activities

#: Rows on one page of every console list.
PAGE_SIZE = 20


def console_member(action: str):
    """The signed-in member, refused with 403 unless they may do ``action`` somewhere."""
    actor = current_member()
    require_somewhere(actor, action)
    return actor


def page_number() -> int:
    """The ``page`` query parameter, 1 when missing or nonsense."""
    return max(request.args.get("page", 1, type=int), 1)


def read_or_unprocessable(read: Callable[[], object], default) -> tuple[object, int]:
    """What ``read`` answers and 200; or ``default`` and 422 when it cannot do what the query
    string asked (a month out of range, say). Any other refusal stands."""
    try:
        return read(), 200
    except AppError as error:
        if error.status != 422:
            raise
        return default, 422


def indented_units(units) -> list[tuple[str, str]]:
    """Org units as a select's choices, each indented by its depth in the tree."""
    return [(str(unit.id), "　" * unit.depth + unit.name) for unit in units]


def unit_choices(actor, action: str) -> list[tuple[str, str]]:
    """ "Choose…", then the org units where the actor may do ``action``."""
    return [("", _("Choose…")), *indented_units(list_units_in_scope(actor, action))]


def activity_choices(actor, leave_out=frozenset()) -> list[tuple[str, str]]:
    """ "Choose…", then the active activities the actor manages (but those in ``leave_out``)."""
    return [("", _("Choose…"))] + [
        (activity.code, activity.name)
        for activity in list_managed_activities(actor, False, 1, 100)["items"]
        if activity.code not in leave_out
    ]


@dataclass
class Outcome:
    """What became of a page form: ``saved`` with the service's ``answer``, or the ``status`` to
    show the form again with (and the service's refusal, ``problem``, when it refused)."""

    saved: bool = False
    answer: object = None
    status: int = 200
    problem: AppError | None = None


def save_form(form, save: Callable[[], object], names: dict | None = None) -> Outcome:
    """Run ``save`` when the posted form is valid. A refusal is put beside the fields it names
    (``names`` maps the service's field names to the form's, as ``show_refusal``); an invalid
    post is a 422; a form not posted is shown as it is."""
    if not form.validate_on_submit():
        return Outcome(status=422 if form.is_submitted() else 200)
    try:
        answer = save()
    except AppError as error:
        show_refusal(form, error, names)
        return Outcome(status=error.status, problem=error)
    return Outcome(saved=True, answer=answer)


def submit(
    form, save: Callable[[], object], done: str, back: str, again: Callable[[Outcome], object], names=None
):
    """A form posted to do one thing: once saved, ``done`` is flashed and the browser goes ``back``
    (303); otherwise ``again(outcome)`` shows the page again with the form as typed and the refusal."""
    outcome = save_form(form, save, names)
    if not outcome.saved:
        return again(outcome)
    flash(done)
    return redirect(back, 303)
