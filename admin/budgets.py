"""The console's budgets: each org unit's points budget for a year with what its subtree was
awarded, a warning from 80 % used, and (administrators) setting one — through points' budgets."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import BudgetForm
from admin.pages import Outcome, console_member, save_form, unit_choices
from admin.views import bp
from core.clock import shanghai_today
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import can_somewhere
from points import budgets


def _year() -> int:
    """The ``year`` query parameter, this year when missing or out of range."""
    year = request.args.get("year", type=int)
    return year if year and budgets.FIRST_YEAR <= year <= budgets.LAST_YEAR else shanghai_today().year


def _form(actor, year: int) -> BudgetForm | None:
    """The form to set a budget, for administrators (None for the others)."""
    if not can_somewhere(actor, "budget.manage"):
        return None
    form = BudgetForm(year=year)
    form.org_unit.choices = unit_choices(actor, "budget.manage")
    return form


@bp.route("/budgets", methods=["GET", "POST"])
@login_required
@once_per_form
def budgets_overview():
    """The budgets of a year in my subtree with their use; administrators set them here."""
    actor = console_member("budget.read")
    year = _year()
    form = _form(actor, year)
    if form is None and request.method == "POST":
        raise AppError(403)
    outcome = (
        save_form(
            form,
            lambda: budgets.set_budget(actor, int(form.org_unit.data), form.year.data, form.points.data),
            {"org_unit_id": "org_unit"},
        )
        if form is not None
        else Outcome()
    )
    if outcome.saved:
        use = outcome.answer
        flash(
            _(
                "Budget of %(unit)s for %(year)d set: %(points)d points.",
                unit=use.org_unit.name,
                year=use.year,
                points=use.points,
            )
        )
        return redirect(url_for("admin.budgets_overview", year=use.year), 303)
    return render_template(
        "admin/budgets.html",
        year=year,
        uses=budgets.list_budgets(actor, year),
        form=form,
        warn_at=int(budgets.WARN_AT * 100),
    ), outcome.status
