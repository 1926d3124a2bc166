"""Member and org-unit boards: ties, period edges, reversals, exclusion, anonymity, the read model."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from core.clock import period_bounds, period_key
from core.database import begin_writing
from core.extensions import db
from core.identity import services as identity
from core.identity.models import Member, OrgUnit
from core.identity.services import mask_name
from points import leaderboards, ledger
from points.models import LeaderboardTotal, LedgerTransaction
from tests.factories import make_member, make_unit

UTC = UTC


def earn(member_id: int, points: int, occurred_at: datetime | None = None) -> int:
    """Award points in their own transaction; answer the ledger transaction's id."""
    begin_writing(db.session)
    transaction = ledger.award(member_id, points, occurred_at=occurred_at or datetime.now(UTC), actor_id=None)
    db.session.commit()
    return transaction.id


def take_back(transaction_id: int, force: bool = False) -> None:
    """Reverse an award in its own transaction."""
    begin_writing(db.session)
    ledger.reverse_award(
        db.session.get(LedgerTransaction, transaction_id), actor_id=None, reason="wrong", force=force
    )
    db.session.commit()


def board(
    viewer_id: int, unit_id: int | None, period: str = "month", at: date | None = None, limit: int = 50
) -> dict:
    """The member board as the viewer sees it."""
    db.session.expire_all()
    return leaderboards.member_board(db.session.get(Member, viewer_id), unit_id, period, at, limit)


def names(result: dict) -> list[tuple[int, str, int]]:
    """(rank, display name, points) of each entry."""
    return [(entry["rank"], str(entry["display_name"]), entry["points"]) for entry in result["entries"]]


def people(world, unit_key: str, *names_: str) -> list[int]:
    """Add residents to a grid of the world; answer their ids."""
    unit = db.session.get(OrgUnit, world.units[unit_key])
    return [make_member(name, unit).id for name in names_]


def test_ties_share_a_rank_and_whoever_reached_the_score_first_comes_first(ctx, world):
    first, early, late, last = people(world, "grid_a", "甲一号", "乙二号", "丙三号", "丁四号")
    earn(first, 30)
    earn(late, 15)
    earn(early, 20)
    earn(late, 5)  # reaches 20 after ``early`` did
    earn(last, 10)

    result = board(last, world.units["county"])

    assert names(result) == [(1, "甲*号", 30), (2, "乙*号", 20), (2, "丙*号", 20), (4, "丁*号", 10)]
    me = result["me"]
    assert (me["rank"], me["points"], me["total"], me["to_next"]) == (4, 10, 4, 11)
    assert str(me["above"]["display_name"]) == "丙*号" and me["above"]["rank"] == 2
    assert me["below"] is None
    tied = board(late, world.units["county"])["me"]
    assert (tied["rank"], tied["to_next"]) == (2, 1)
    assert str(tied["above"]["display_name"]) == "乙*号" and str(tied["below"]["display_name"]) == "丁*号"
    top = board(first, world.units["county"])["me"]
    assert (top["rank"], top["to_next"], top["above"]) == (1, None, None)


def test_rank_of_me_for_the_last_of_many_members(ctx, world):
    ids = people(world, "grid_a2", *[f"居民{n:02d}" for n in range(30)])
    for points, member_id in enumerate(ids, start=1):
        earn(member_id, points)

    result = board(ids[0], world.units["grid_a2"], limit=5)

    assert [entry["points"] for entry in result["entries"]] == [30, 29, 28, 27, 26]
    assert result["me"]["rank"] == 30 and result["me"]["total"] == 30 and result["me"]["to_next"] == 2
    assert result["me"]["above"]["rank"] == 29 and result["me"]["below"] is None


def test_deep_ranks_from_the_histogram_agree_with_exact_counts(app, world):
    app.config["LEADERBOARD_EXACT_COUNT"] = 2
    with app.app_context():
        scores = {}
        for index, member_id in enumerate(people(world, "grid_a2", *[f"居民{n:02d}" for n in range(12)])):
            scores[member_id] = 5 + index // 3  # 5, 5, 5, 6, 6, 6, …: ties deep down the board
            earn(member_id, scores[member_id])
        leaderboards.HISTOGRAMS.clear()
        for member_id, score in scores.items():
            me = board(member_id, world.units["county"])["me"]
            assert me["rank"] == 1 + sum(1 for other in scores.values() if other > score)
            assert me["total"] == 12


def test_a_point_counts_in_the_period_of_its_shanghai_time(ctx, world):
    resident = world.people["resident"]
    county = world.units["county"]
    earn(resident, 1, datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC))  # 23:59:59 on 31 October in Shanghai
    earn(resident, 10, datetime(2026, 10, 31, 16, 0, 0, tzinfo=UTC))  # midnight: 1 November in Shanghai
    earn(resident, 100, datetime(2025, 12, 31, 15, 30, tzinfo=UTC))  # 23:30, 31 December 2025
    earn(resident, 1000, datetime(2025, 12, 31, 16, 30, tzinfo=UTC))  # 00:30, 1 January 2026

    def points(period, day):
        return [entry["points"] for entry in board(resident, county, period, day)["entries"]]

    assert points("month", date(2026, 10, 31)) == [1]
    assert points("month", date(2026, 11, 1)) == [10]
    assert points("week", date(2026, 11, 1)) == [11]  # Sat 31 Oct and Sun 1 Nov: one ISO week
    assert points("week", date(2026, 11, 2)) == []
    assert points("quarter", date(2026, 12, 31)) == [11]
    assert points("quarter", date(2025, 12, 1)) == [100]
    assert points("quarter", date(2026, 1, 1)) == [1000]
    assert points("year", date(2025, 6, 1)) == [100]
    assert points("year", date(2026, 6, 1)) == [1011]
    assert points("all", date(2020, 1, 1)) == [1111]
    assert points("week", date(2025, 12, 31)) == [1100]  # ISO week 2026-W01 starts Monday 29 Dec 2025


def test_period_names_and_bounds_at_the_year_end():
    assert period_key("week", date(2025, 12, 31)) == "2026-W01"
    assert period_key("quarter", date(2026, 12, 31)) == "2026-Q4"
    start, end = period_bounds("quarter", date(2026, 11, 15))
    assert (start.isoformat(), end.isoformat()) == ("2026-10-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
    start, end = period_bounds("month", date(2026, 12, 5))
    assert end.isoformat() == "2027-01-01T00:00:00+08:00"
    assert period_bounds("all", date(2026, 1, 1)) == (None, None)


def test_a_reversal_lowers_the_period_of_the_award_it_reverses_across_the_period_end(ctx, world):
    resident, villager = world.people["resident"], world.people["villager"]
    october = datetime(2026, 10, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 October in Shanghai
    award = earn(resident, 40, october)
    earn(villager, 5, october)
    earn(resident, 7, datetime(2026, 11, 2, 2, tzinfo=UTC))

    take_back(award)  # reversed in November (today), counted against October

    assert names(board(villager, world.units["county"], "month", date(2026, 10, 1))) == [(1, "钱*民", 5)]
    assert names(board(villager, world.units["county"], "month", date(2026, 11, 2))) == [(1, "张*民", 7)]
    assert board(resident, world.units["county"], "year", date(2026, 1, 1))["me"]["points"] == 7


def test_staff_hidden_and_suspended_members_are_left_out_of_every_board(ctx, world):
    county = world.units["county"]
    admin = db.session.get(Member, world.people["global_admin"])
    resident, villager, neighbour = (world.people[key] for key in ("resident", "villager", "neighbour"))
    worker = world.people["grid_worker"]
    for member_id, points in ((resident, 10), (villager, 20), (neighbour, 30), (worker, 5)):
        earn(member_id, points)
    earn(world.people["organiser"], 99)

    assert [entry["points"] for entry in board(resident, county)["entries"]] == [30, 20, 10, 5]
    assert board(world.people["organiser"], county)["me"] is None

    grant = identity.grant_role(
        admin, db.session.get(Member, neighbour), "organiser", world.units["town_a"], None
    )
    identity.update_member(admin, db.session.get(Member, villager), {"hidden": True})
    identity.update_member(admin, db.session.get(Member, worker), {"status": "suspended"})

    result = board(resident, county)
    assert names(result) == [(1, "张*民", 10)]
    assert result["me"]["total"] == 1
    units = leaderboards.org_unit_board(world.units["community_a"], "month")
    assert {entry["org_unit"]["id"]: entry["points"] for entry in units["entries"]} == {
        world.units["grid_a"]: 10,
        world.units["grid_a2"]: 0,
    }
    hidden_me = board(villager, county)["me"]
    assert (hidden_me["rank"], hidden_me["points"]) == (None, 20)

    identity.revoke_role(admin, db.session.get(Member, neighbour), grant.id)
    identity.update_member(admin, db.session.get(Member, worker), {"status": "active"})
    assert [entry["points"] for entry in board(resident, county)["entries"]] == [30, 10, 5]


def test_an_anonymous_member_is_ranked_under_the_anonymous_name(ctx, world):
    resident = db.session.get(Member, world.people["resident"])
    identity.update_own_profile(resident, {"anonymous": True})
    earn(resident.id, 12)
    earn(world.people["villager"], 3)

    entries = board(world.people["villager"], world.units["grid_a"])["entries"]

    assert [(entry["rank"], str(entry["display_name"]), entry["org_unit"]["name"]) for entry in entries] == [
        (1, "匿名", "东街一网格"),
        (2, "钱*民", "东街一网格"),
    ]  # Chinese by default
    assert "张居民" not in repr(entries)


def test_names_are_masked():
    assert [mask_name(name) for name in ("张三明", "张三", "欧阳小明", "王")] == [
        "张*明",
        "张*",
        "欧**明",
        "*",
    ]


def test_boards_follow_a_member_who_moves_and_a_unit_that_moves(ctx, world):
    admin = db.session.get(Member, world.people["global_admin"])
    resident = world.people["resident"]
    earn(resident, 8)
    assert [e["points"] for e in board(resident, world.units["town_a"])["entries"]] == [8]

    identity.update_member(admin, db.session.get(Member, resident), {"org_unit_id": world.units["grid_b"]})
    assert board(resident, world.units["town_a"])["entries"] == []
    assert [e["points"] for e in board(resident, world.units["town_b"])["entries"]] == [8]

    identity.update_org_unit(
        admin, db.session.get(OrgUnit, world.units["community_b"]), parent_id=world.units["town_a"], move=True
    )
    assert [e["points"] for e in board(resident, world.units["town_a"])["entries"]] == [8]
    assert board(resident, world.units["town_b"])["entries"] == []
    assert leaderboards.rebuild_totals()["changed"] == 0


def test_org_unit_board_ranks_children_by_total_and_per_resident_with_empty_units(ctx, world):
    extra = people(world, "grid_a2", "新居民")[0]
    empty_town = make_unit("空镇", "town", db.session.get(OrgUnit, world.units["county"]))
    earn(world.people["resident"], 30)
    earn(world.people["villager"], 10)
    earn(world.people["outsider"], 25)
    earn(extra, 1)

    by_total = leaderboards.org_unit_board(world.units["county"], "month", metric="total")
    by_capita = leaderboards.org_unit_board(world.units["county"], "month", metric="per_capita")

    town_a, town_b = world.units["town_a"], world.units["town_b"]
    assert [(e["rank"], e["org_unit"]["id"], e["points"], e["residents"]) for e in by_total["entries"]] == [
        (1, town_a, 41, 5),
        (2, town_b, 25, 2),
        (3, empty_town.id, 0, 0),
    ]
    assert [(e["rank"], e["org_unit"]["id"], e["per_capita"]) for e in by_capita["entries"]] == [
        (1, town_b, 12.5),
        (2, town_a, 8.2),
        (3, empty_town.id, 0.0),
    ]
    roots = leaderboards.org_unit_board(None, "month")
    assert [(e["org_unit"]["id"], e["points"]) for e in roots["entries"]] == [(world.units["county"], 66)]


def test_rebuild_from_the_ledger_restores_a_damaged_read_model(ctx, world):
    resident = world.people["resident"]
    earn(resident, 10)
    award = earn(world.people["villager"], 4)
    take_back(award)
    before = sorted(tuple(row) for row in db.session.execute(sa.select(LeaderboardTotal.__table__)))

    assert leaderboards.rebuild_totals()["changed"] == 0
    db.session.execute(
        sa.update(LeaderboardTotal).where(LeaderboardTotal.member_id == resident).values(score=999)
    )
    db.session.execute(sa.delete(LeaderboardTotal).where(LeaderboardTotal.period_key == "all"))
    db.session.commit()
    counts = leaderboards.rebuild_totals()

    assert counts == {"rows": 10, "changed": 6}  # the resident's five rows, the villager's all-time row
    after = sorted(tuple(row) for row in db.session.execute(sa.select(LeaderboardTotal.__table__)))
    assert after == before


@pytest.mark.parametrize("points", [0, -5])
def test_nobody_with_no_points_in_the_period_is_listed(ctx, world, points):
    award = earn(world.people["resident"], 5)
    if points < 0:
        take_back(award)
    else:
        earn(world.people["villager"], 1, datetime(2025, 1, 1, tzinfo=UTC))
    result = board(world.people["resident"], world.units["county"])
    assert all(entry["points"] > 0 for entry in result["entries"])
    assert len(result["entries"]) == (1 if points == 0 else 0)


def test_spending_and_opening_balances_never_move_a_board(ctx, world):
    resident, villager = world.people["resident"], world.people["villager"]
    begin_writing(db.session)
    ledger.open_new_balances({villager: 500}, actor_id=None)
    db.session.commit()
    earn(resident, 30)
    earn(villager, 20)
    begin_writing(db.session)
    ledger.hold(resident, 25, reference="voucher:1", actor_id=None)
    ledger.spend(resident, 25, reference="voucher:1", actor_id=None)
    db.session.commit()

    assert names(board(villager, world.units["county"], "all")) == [(1, "张*民", 30), (2, "钱*民", 20)]


def test_a_member_outside_the_area_sees_no_rank_there(ctx, world):
    earn(world.people["resident"], 30)
    earn(world.people["outsider"], 5)

    me = board(world.people["outsider"], world.units["town_a"])["me"]

    assert (me["rank"], me["points"], me["total"], me["to_next"]) == (None, 0, 1, None)
