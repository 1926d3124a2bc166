"""JSON endpoints of budgets: the points an org unit's subtree may be awarded in a year."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.identity.auth import current_member
from points import budgets
from points.schemas import BudgetSchema, SetBudgetSchema

blp = Blueprint("budgets", __name__, url_prefix="/api/v1", description="Points budgets")


@blp.route("/org-units/<id:unit_id>/budgets/<id:year>")
class BudgetItem(MethodView):
    @blp.response(200, BudgetSchema)
    def get(self, unit_id, year):
        """An org unit's budget for a year: points, awarded, remaining (organisers and admins in scope)."""
        return budgets.read_budget(current_member(), unit_id, year)

    @blp.arguments(SetBudgetSchema)
    @blp.response(200, BudgetSchema)
    def put(self, body, unit_id, year):
        """Set the points the unit's subtree may be awarded in the year (admins in scope)."""
        return budgets.set_budget(current_member(), unit_id, year, body["points"])
