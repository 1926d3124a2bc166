"""JSON endpoints of the leaderboards: member boards, org-unit boards, honour rolls."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.identity.auth import current_member
from core.replica import reads_replica
from points import leaderboards
from points.schemas import (
    HonourRollQuerySchema,
    HonourRollSchema,
    MemberBoardQuerySchema,
    MemberBoardSchema,
    OrgUnitBoardQuerySchema,
    OrgUnitBoardSchema,
)

blp = Blueprint("leaderboards", __name__, url_prefix="/api/v1", description="Leaderboards")


@blp.route("/leaderboards/members")
class MemberBoard(MethodView):
    @reads_replica
    @blp.arguments(MemberBoardQuerySchema, location="query")
    @blp.response(200, MemberBoardSchema)
    def get(self, query):
        """Members of an org unit's subtree ranked by points earned in a period, with my place."""
        return leaderboards.member_board(
            current_member(), query["org_unit_id"], query["period"], query["at"], query["limit"]
        )


@blp.route("/leaderboards/org-units")
class OrgUnitBoard(MethodView):
    @reads_replica
    @blp.arguments(OrgUnitBoardQuerySchema, location="query")
    @blp.response(200, OrgUnitBoardSchema)
    def get(self, query):
        """The children of an org unit ranked by points earned, in total or per resident."""
        current_member()
        return leaderboards.org_unit_board(query["parent_id"], query["period"], query["at"], query["metric"])


@blp.route("/leaderboards/honour-roll")
class HonourRoll(MethodView):
    @reads_replica
    @blp.arguments(HonourRollQuerySchema, location="query")
    @blp.response(200, HonourRollSchema)
    def get(self, query):
        """A closed month's published honour roll (光荣榜) of an org unit; never changes."""
        current_member()
        return leaderboards.honour_roll(query["org_unit_id"], query["month"])
