"""Identity pages: sign in, sign out, my account."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user, logout_user

from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity import cards, services
from core.identity.activation import activate_member
from core.identity.auth import current_member
from core.identity.forms import ActivateForm, ChangePasswordForm, OwnPinForm, SignInForm
from core.views import safe_next

bp = Blueprint("identity_pages", __name__)

ROLE_NAMES = {
    "grid_worker": _l("Grid worker"),
    "organiser": _l("Organiser"),
    "admin": _l("Administrator"),
    "clerk": _l("Supermarket clerk"),
}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign the member in; a locked number says how long to wait."""
    form = SignInForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            member = services.authenticate(form.phone.data, form.password.data)
        except AppError as error:
            form.password.errors.append(error.message)
            status, headers = error.status, error.headers
        else:
            login_user(member, remember=True)
            return redirect(
                safe_next(request.args.get("next")) if request.args.get("next") else url_for("core.home")
            )
    elif form.is_submitted():
        status = 422
    return render_template("identity/login.html", form=form), status, headers


@bp.route("/activate", methods=["GET", "POST"])
def activate():
    """Let an imported member set their first password with the slip's code, then sign them in."""
    form = ActivateForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            member = activate_member(form.phone.data, form.code.data, form.new_password.data)
        except AppError as error:
            field = form.new_password if "password" in error.errors else form.code
            field.errors.append(error.message)
            status, headers = error.status, error.headers
        else:
            login_user(member, remember=True)
            flash(_("Your account is ready. Welcome!"))
            return redirect(url_for("core.home"))
    elif form.is_submitted():
        status = 422
    return render_template("identity/activate.html", form=form), status, headers


@bp.post("/logout")
def logout():
    """Sign out of this browser."""
    logout_user()
    return redirect(url_for("core.home"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
@once_per_form
def account():
    """Show my account and let me change my password."""
    member = current_member()
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_own_password(member, form.current_password.data, form.new_password.data)
        except AppError as error:
            if "new_password" in error.errors:
                form.new_password.errors.append(error.message)
            else:
                form.current_password.errors.extend(error.errors.get("current_password", [error.message]))
            status = error.status
        else:
            login_user(member, remember=True)  # the new session version keeps this browser signed in
            flash(_("Your password has been changed."))
            return redirect(url_for("identity_pages.account"))
    elif form.is_submitted():
        status = 422
    return _account_page(member, status, form=form)


def _account_page(member, status: int = 200, form=None, pin=None):
    """My account, with its forms (the one given keeps its errors)."""
    return render_template(
        "identity/account.html",
        member=member,
        role_names=ROLE_NAMES,
        form=form or ChangePasswordForm(formdata=None),
        card=cards.live_card(member.id),
        pin_set=cards.has_pin(member.id),
        pin=pin or OwnPinForm(formdata=None),
    ), status


@bp.post("/account/pin")
@login_required
@once_per_form
def account_pin():
    """Set my own counter PIN (for my member card), with my password."""
    member = current_member()
    form = OwnPinForm()
    if not form.validate_on_submit():
        return _account_page(member, 422, pin=form)
    try:
        cards.set_pin(member, member, form.pin.data, form.password.data)
    except AppError as error:
        for name, field in (("pin", form.pin), ("password", form.password)):
            if name in error.errors:
                field.errors = [*field.errors, str(error.message)]
        return _account_page(member, error.status, pin=form)
    flash(_("Your PIN is set."))
    return redirect(url_for("identity_pages.account"), 303)
