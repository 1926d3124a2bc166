"""The patrol checkpoint page: a phone's own camera opens a checkpoint's code; one tap records the scan."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.database import utcnow
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from points.patrols import services

bp = Blueprint("patrol_pages", __name__)

#: Why a complete round earned nothing, in words.
REFUSAL_NAMES = {
    "daily_cap_reached": _l("the activity's daily limit is reached"),
    "too_short": _l("the round took less than half an hour"),
    "not_applicable": _l("the activity does not apply to you now"),
    "budget_exhausted": _l("this year's points budget of your area is used up"),
}


@bp.route("/K/<checkpoint_token>", methods=["GET", "POST"])
@bp.route("/k/<checkpoint_token>", methods=["GET", "POST"])
@login_required
@once_per_form
def scan(checkpoint_token: str):
    """Show the checkpoint a scanned code names and my round tonight; scan in with one tap."""
    actor = current_member()
    status, checkpoint, scanned, problem = 200, None, None, None
    try:
        checkpoint = services.checkpoint_from_code(checkpoint_token)
        if request.method == "POST":
            scanned = services.scan_checkpoint(actor, checkpoint_token)
    except AppError as error:
        status, problem = error.status, error
    tonight = scanned
    if tonight is None and checkpoint is not None:
        night = services.night_of(checkpoint.route, utcnow())
        tonight = services.round_of(actor, checkpoint.route, night) if night is not None else None
    return render_template(
        "points/patrol_scan.html",
        checkpoint=checkpoint,
        scanned=scanned,
        tonight=tonight,
        problem=problem,
        refusal_names=REFUSAL_NAMES,
    ), status
