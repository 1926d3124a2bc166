"""Pages of micro-wishes: browse the open ones near me, post one, follow mine, and act on one — take,
give back, mark done, confirm with a rating, cancel; grid workers vet those of their grids."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import can_somewhere
from core.identity.auth import current_member
from core.views import show_refusal
from points import photos
from points.wishes import services
from points.wishes.forms import CancelForm, ConfirmForm, DoneForm, VetForm, WishForm

bp = Blueprint("wish_pages", __name__)

PAGE_SIZE = 20
#: Each step of a wish in words.
STATUS_NAMES = {
    "submitted": _l("Waiting to be vetted"),
    "declined": _l("Declined"),
    "vetted": _l("Waiting to be published"),
    "open": _l("Open: anyone may take it"),
    "taken": _l("Taken"),
    "done": _l("Done: waiting for the requester"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}
# The forms that may carry a photo straight from a phone's camera.
photos.allow_photo_uploads(bp, "wish_pages.new_wish", "wish_pages.done_wish")


@bp.app_template_global()
def wish_status_name(status: str) -> str:
    """A wish's step in words."""
    return str(STATUS_NAMES.get(status, status))


def nearness(actor, wish) -> str | None:
    """Say whether a wish lies in the member's own community or town."""
    prefixes = services.area_prefixes(actor)
    path = wish.org_unit.path
    if len(prefixes) >= 3 and path.startswith(prefixes[2]):
        return _("In your community")
    if len(prefixes) >= 2 and path.startswith(prefixes[1]):
        return _("In your town")
    return None


def navigation(actor) -> list:
    """Links of "Me": my wishes, and wishes to vet for those who vet them."""
    links = [(url_for("wish_pages.my_wishes"), _("My wishes"))]
    if can_somewhere(actor, "wish.vet"):
        links.append((url_for("wish_pages.vet_list"), _("Vet wishes")))
    return links


def _page_number() -> int:
    return max(request.args.get("page", 1, type=int), 1)


def _listing(actor, page: int, page_size: int = PAGE_SIZE, **filters) -> dict:
    """A page of wishes as the actor sees them, with how near each one is."""
    listing = services.list_wishes(actor, page=page, page_size=page_size, **filters)
    listing["near"] = {wish.id: nearness(actor, wish) for wish in listing["items"]}
    return listing


def nearby_wishes(actor, count: int = 3) -> dict:
    """The first few open wishes near the member, for their home and earning pages."""
    return _listing(actor, 1, count, status="open")


def wishes_to_vet(actor) -> int:
    """How many submitted wishes in the actor's grids wait to be vetted (their own included)."""
    return services.list_wishes(actor, status="submitted", page=1, page_size=1)["total"]


@bp.get("/wishes")
@login_required
def wishes():
    """Open wishes near me: my community's first, then my town's, then the rest of the county."""
    return render_template(
        "points/wishes.html", listing=_listing(current_member(), _page_number(), status="open")
    )


@bp.get("/me/wishes")
@login_required
def my_wishes():
    """The wishes I posted and the ones I took."""
    actor = current_member()
    return render_template(
        "points/my_wishes.html",
        requested=_listing(actor, 1, 100, mine="requested"),
        taken=_listing(actor, 1, 100, mine="taken"),
    )


@bp.get("/wishes/vet")
@login_required
def vet_list():
    """Submitted wishes of my grids, each with accept and decline (my own wait for someone else)."""
    actor = current_member()
    if not can_somewhere(actor, "wish.vet"):
        raise AppError(403)
    listing = _listing(actor, _page_number(), status="submitted")
    listing["seen"] = {wish.id: services.seen_by(actor, wish) for wish in listing["items"]}
    return render_template("points/wish_vet.html", listing=listing, form=VetForm())


@bp.route("/wishes/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_wish():
    """Post a wish from my phone, in large type, with a photo if it helps."""
    actor = current_member()
    form = WishForm()
    status, problem = 200, None
    if form.validate_on_submit():
        try:
            wish = services.post_wish(
                actor,
                form.title.data.strip(),
                form.description.data.strip(),
                photos.photo_from_form(actor, form),
            )
        except AppError as error:
            status, problem = error.status, error
        else:
            flash(_("Your wish is posted. A grid worker looks at it next."))
            return redirect(url_for("wish_pages.wish", wish_id=wish.id), 303)
    elif form.is_submitted():
        status = 422
    return render_template(
        "points/wish_new.html", form=form, problem=problem, photo_max_bytes=photos.PHOTO_MAX_BYTES
    ), status


def _wish_page(wish_id: int, status: int = 200, problem: AppError | None = None, **forms):
    """A wish with the forms of what I may do to it (those given keep what was typed)."""
    actor = current_member()
    wish = services.read_wish(actor, wish_id)
    shown = {
        "done_form": DoneForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "cancel_form": CancelForm(formdata=None),
        "vet_form": VetForm(formdata=None),
        **forms,
    }
    return render_template(
        "points/wish.html",
        wish=wish,
        seen=services.seen_by(actor, wish),
        near=nearness(actor, wish),
        problem=problem,
        photo_max_bytes=photos.PHOTO_MAX_BYTES,
        **shown,
    ), status


@bp.get("/wishes/<id:wish_id>")
@login_required
def wish(wish_id: int):
    """One wish: what is needed, where it stands, and what I may do to it."""
    return _wish_page(wish_id)


def _act(wish_id: int, call, done_message: str, form_name: str | None = None, form=None):
    """Run a service on the wish once its form (if any) is valid: back to its page with what happened, or
    the form again with what was typed and why it was refused."""
    if form is not None and not form.validate_on_submit():
        return _wish_page(wish_id, 422, **{form_name: form})
    try:
        call()
    except AppError as error:
        if error.status in (401, 404):
            raise
        if form is None:
            flash(str(error.message), "error")
            return redirect(url_for("wish_pages.wish", wish_id=wish_id), 303)
        show_refusal(form, error)
        return _wish_page(wish_id, error.status, error, **{form_name: form})
    flash(done_message)
    return redirect(url_for("wish_pages.wish", wish_id=wish_id), 303)


@bp.post("/wishes/<id:wish_id>/take")
@login_required
@once_per_form
def take_wish(wish_id: int):
    """Take an open wish."""
    return _act(
        wish_id,
        lambda: services.take_wish(current_member(), wish_id),
        _("You took this wish. Please do it before it is due, then mark it done."),
    )


@bp.post("/wishes/<id:wish_id>/release")
@login_required
@once_per_form
def release_wish(wish_id: int):
    """Give a taken wish back, for someone else to take."""
    return _act(
        wish_id,
        lambda: services.release_wish(current_member(), wish_id),
        _("You gave this wish back; it is open for others again."),
    )


@bp.post("/wishes/<id:wish_id>/done")
@login_required
@once_per_form
def done_wish(wish_id: int):
    """Mark a taken wish done, with a note or a photo."""
    actor = current_member()
    form = DoneForm()

    def mark_done():
        services.mark_done(actor, wish_id, form.note.data, photos.photo_from_form(actor, form))

    return _act(
        wish_id,
        mark_done,
        _("Marked done. The requester confirms next, and then you earn the points."),
        "done_form",
        form,
    )


@bp.post("/wishes/<id:wish_id>/confirm")
@login_required
@once_per_form
def confirm_wish(wish_id: int):
    """Confirm a done wish with a rating; the volunteer is paid."""
    form = ConfirmForm()
    return _act(
        wish_id,
        lambda: services.confirm_wish(current_member(), wish_id, form.rating.data),
        _("Thank you for confirming. The volunteer has earned the points."),
        "confirm_form",
        form,
    )


@bp.post("/wishes/<id:wish_id>/cancel")
@login_required
@once_per_form
def cancel_wish(wish_id: int):
    """Cancel a wish, saying why."""
    form = CancelForm()
    return _act(
        wish_id,
        lambda: services.cancel_wish(current_member(), wish_id, form.reason.data),
        _("The wish is cancelled."),
        "cancel_form",
        form,
    )


@bp.post("/wishes/<id:wish_id>/vet")
@login_required
@once_per_form
def vet_wish(wish_id: int):
    """Accept or decline a submitted wish, then go back to where it was vetted from."""
    form = VetForm()
    back = request.args.get("next") == "list"
    if not form.validate_on_submit():
        flash(_("Choose accept or decline."), "error")
    else:
        try:
            services.vet_wish(current_member(), wish_id, form.decision.data, form.reason.data)
        except AppError as error:
            if error.status in (401, 404):
                raise
            flash(
                str(error.message) if "reason" not in error.errors else _("Give a reason to decline."),
                "error",
            )
        else:
            flash(
                _("Accepted: an organiser publishes it next.")
                if form.decision.data == "accept"
                else _("Declined.")
            )
    return redirect(
        url_for("wish_pages.vet_list") if back else url_for("wish_pages.wish", wish_id=wish_id), 303
    )
