"""The console's dashboard: this month and last in the organiser's subtree, with bar charts."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import CATEGORY_NAMES
from admin.pages import console_member
from admin.services.bar_charts import bar_chart
from admin.views import bp
from core.database import utcnow
from core.replica import reads_replica
from points import stats
from rewards import overview


@bp.get("/dashboard")
@login_required
@reads_replica
def dashboard():
    """Show points issued, redeemed and held, active members, categories, claims, vouchers, low stock."""
    actor = console_member("member.manage")
    now = utcnow()
    this_month = stats.month_figures(actor, now, now)
    last_month = stats.month_figures(actor, this_month.start - timedelta(days=1), now)
    months = (this_month, last_month)
    flows = bar_chart(
        [(_("Issued %(month)s", month=_month(m)), m.issued) for m in months]
        + [(_("Redeemed %(month)s", month=_month(m)), m.redeemed) for m in months]
    )
    categories = bar_chart(
        [
            (str(CATEGORY_NAMES.get(category, category)), points)
            for category, _count, points in this_month.by_category
        ]
    )
    return render_template(
        "admin/dashboard.html",
        months=months,
        flows=flows,
        categories=categories,
        pending_claims=stats.count_pending_claims(actor, "member.manage"),
        waiting_vouchers=overview.count_waiting_vouchers(actor),
        low_stock=overview.list_low_stock(actor),
        low_stock_threshold=overview.LOW_STOCK_THRESHOLD,
        category_names=CATEGORY_NAMES,
    )


def _month(figures: stats.MonthFigures) -> str:
    """A month's short name, e.g. 2026-11."""
    return figures.start.strftime("%Y-%m")
