"""The console's rewards: the catalogue every supermarket stocks from — list, create, edit (price,
monthly limit, retire and bring back) and the picture — through rewards' services (administrators)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import RewardForm, RewardPictureForm
from admin.pages import PAGE_SIZE, console_member, page_number, save_form
from admin.views import bp
from core.errors import AppError
from core.form_tokens import once_per_form
from core.images import MAX_UPLOAD_BYTES
from rewards import images, services
from rewards.settlements import format_yuan

#: Form fields the service takes as they are (blank optional texts become None).
FIELDS = ("name", "name_en", "description", "points_cost", "per_member_limit", "unit_cost_fen", "active")


def _fields(form: RewardForm) -> dict:
    """The service's fields from the form (a blank unit cost leaves the cost as it is)."""
    fields = {name: getattr(form, name).data for name in FIELDS}
    for name in ("name_en", "description"):
        fields[name] = (fields[name] or "").strip() or None
    if fields["unit_cost_fen"] is None:
        del fields["unit_cost_fen"]
    return fields


@bp.get("/rewards")
@login_required
def rewards():
    """List the catalogue, retired rewards too, each with its picture and price."""
    console_member("reward.manage")
    listing = services.list_rewards(True, page_number(), PAGE_SIZE)
    return render_template(
        "admin/rewards.html",
        rewards=listing,
        image_url=services.reward_image_url,
        yuan=format_yuan,
    )


@bp.route("/rewards/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_reward():
    """Add a reward to the catalogue."""
    actor = console_member("reward.manage")
    form = RewardForm()
    outcome = save_form(form, lambda: services.create_reward(actor, _fields(form)))
    if outcome.saved:
        flash(_("Reward %(name)s created. Add its picture below.", name=outcome.answer.name))
        return redirect(url_for("admin.edit_reward", reward_id=outcome.answer.id), 303)
    return render_template("admin/reward_form.html", form=form, reward=None, picture=None), outcome.status


@bp.route("/rewards/<id:reward_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def edit_reward(reward_id: int):
    """Edit a reward: names, price, monthly limit, offered or retired (reserved vouchers keep their price)."""
    actor = console_member("reward.manage")
    reward = services.get_reward(reward_id)
    form = RewardForm(obj=reward if request.method == "GET" else None)
    outcome = save_form(form, lambda: services.update_reward(actor, reward.id, _fields(form)))
    if outcome.saved:
        flash(_("Reward %(name)s saved.", name=reward.name))
        return redirect(url_for("admin.rewards"), 303)
    return _reward_page(reward, form, RewardPictureForm(formdata=None), outcome.status)


def _reward_page(reward, form: RewardForm, picture: RewardPictureForm, status: int):
    """A reward's page: its form and its picture's (either one keeps what was sent)."""
    return render_template(
        "admin/reward_form.html",
        form=form,
        reward=reward,
        picture=picture,
        image_url=services.reward_image_url(reward),
        costs=services.list_costs(reward.id),
        yuan=format_yuan,
    ), status


@bp.url_value_preprocessor
def allow_picture_uploads(endpoint, _values):
    """Raise the body limit to 5 MB for a reward's picture before the CSRF check reads the body."""
    if endpoint == "admin.reward_picture" and request.method == "POST":
        request.max_content_length = MAX_UPLOAD_BYTES


@bp.post("/rewards/<id:reward_id>/picture")
@login_required
@once_per_form
def reward_picture(reward_id: int):
    """Add or replace a reward's picture (checked, turned upright, shrunk to 640 px)."""
    actor = console_member("reward.manage")
    reward = services.get_reward(reward_id)
    picture = RewardPictureForm()
    status = 200
    if picture.validate_on_submit() and picture.image.data:
        try:
            images.set_reward_image(actor, reward.id, picture.image.data)
        except AppError as error:
            picture.image.errors = [*picture.image.errors, str(error.message)]
            status = error.status
        else:
            flash(_("Picture saved."))
            return redirect(url_for("admin.edit_reward", reward_id=reward.id), 303)
    else:
        picture.image.errors = [*picture.image.errors, _("Choose a JPEG or PNG picture.")]
        status = 422
    return _reward_page(reward, RewardForm(formdata=None, obj=reward), picture, status)
