"""The fairness watch: each rule fires on crafted data and stays quiet on fair data; flags are kept
once per finding, decided with a reason by someone other than their subject, audited, seen only in
scope; a scan changes nothing but flags."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.clock import SHANGHAI
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import contributions, fairness, ledger
from points.models import Contribution, FairnessFlag, LedgerTransaction
from tests.factories import make_activity, make_award, make_member, make_unit
from tests.rewards.conftest import person
from tests.support.pages import csrf_token, signed_in


@pytest.fixture
def watch(app, world):
    """The world with two activities (a daytime one and patrols) and small thresholds for crafted data."""
    app.config.update(
        FAIRNESS_FAVOURED_MIN_AWARDS=10,
        FAIRNESS_BURST_AWARDS=8,
        FAIRNESS_BURST_MINUTES=10,
        FAIRNESS_QUICK_TIMES=3,
        FAIRNESS_MEMBER_MIN_RANKED=100,
    )
    with app.app_context():
        make_activity("publicity", points=10, category="publicity")
        make_activity("patrol", points=10, category="patrol")
    return world


def residents(world, count: int, grid: str = "grid_a") -> list[int]:
    unit = db.session.get(OrgUnit, world.units[grid])
    ids = [make_member(f"居民{index}", unit, commit=False).id for index in range(count)]
    db.session.commit()
    return ids


def favour(world, others: int = 5, others_grid: str = "grid_a") -> list[int]:
    """The grid worker records three awards of 20 for each of three new residents of grid A, and one
    of 5 for each of ``others`` new residents of ``others_grid``; answer the favoured three. By default
    nothing else is there to flag: grid A's sibling earned nothing, so no grid stands out."""
    favoured, rest = residents(world, 3), residents(world, others, others_grid)
    for member in favoured:
        for _ in range(3):
            record(world, "grid_worker", member, 20)
    for member in rest:
        record(world, "grid_worker", member, 5)
    return favoured


def yesterday_at(hour: int, minute: int = 0) -> datetime:
    """A time of yesterday, Asia/Shanghai (daytime unless asked otherwise, whenever the tests run)."""
    return (datetime.now(SHANGHAI) - timedelta(days=1)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )


def record(
    world,
    recorder: str,
    member_id: int,
    points: int = 10,
    *,
    activity: str = "publicity",
    occurred_at: datetime | None = None,
    recorded_at: datetime | None = None,
) -> int:
    """An award staff recorded for someone (approved at once), done and recorded yesterday in the
    daytime, a quarter of an hour after the one before (no burst), unless other times are given."""
    earlier = db.session.scalar(sa.select(sa.func.count()).select_from(Contribution))
    contribution = make_award(
        person(world, recorder),
        member_id,
        activity=activity,
        points=points,
        occurred_at=occurred_at or yesterday_at(10),
        commit=False,
    )
    contribution.created_at = recorded_at or yesterday_at(8) + timedelta(minutes=15 * earlier)
    db.session.commit()
    return contribution.id


def found(rule: str, now: datetime | None = None) -> list[fairness.Finding]:
    return [finding for finding in fairness.find_patterns(now) if finding.rule == rule]


# --- each rule: fires on crafted data, quiet on fair data -----------------------------------------


def test_a_recorder_favouring_the_same_few_members_is_flagged(app, watch):
    with app.app_context():
        favoured = favour(watch, others_grid="grid_a2")
        [finding] = found("favoured_members")
        assert finding.member_id == watch.people["grid_worker"]
        assert finding.facts["share"] == 88 and finding.facts["few"] == 3 and finding.facts["median"] == 5
        assert {row["member_id"] for row in finding.evidence} == set(favoured) and len(finding.evidence) == 9
        fairness.scan()
        flag = db.session.scalar(sa.select(FairnessFlag).where(FairnessFlag.rule == "favoured_members"))
        assert (
            flag.org_unit_id == watch.units["community_a"]
        )  # recorded for two grids: their community sees it
        assert [row["member"] for row in flag.evidence[:1]] == ["居民0"] and flag.facts["whom"] == "王网格"


def test_a_recorder_spreading_points_evenly_is_not_flagged(app, watch):
    with app.app_context():
        for member in residents(watch, 8):
            for _ in range(2):
                record(watch, "grid_worker", member, 10)
        assert found("favoured_members") == []


def test_a_recorder_with_few_awards_or_few_others_is_not_flagged(app, watch):
    with app.app_context():
        favour(watch, others=2)
        assert found("favoured_members") == []  # 11 awards, but only 2 others to compare with


def test_awards_timed_at_impossible_hours_are_flagged_per_approver_and_day(app, watch):
    with app.app_context():
        night = yesterday_at(2, 30)
        resident = watch.people["resident"]
        done_at_night = record(watch, "grid_worker", resident, occurred_at=night)
        recorded_at_night = record(watch, "organiser", resident, recorded_at=night + timedelta(hours=1))
        findings = found("odd_hours")
        assert {
            (finding.member_id, tuple(row["contribution_id"] for row in finding.evidence))
            for finding in findings
        } == {
            (watch.people["grid_worker"], (done_at_night,)),
            (watch.people["organiser"], (recorded_at_night,)),
        }
        assert all(finding.facts["hours"] == "01:00-05:00" for finding in findings)


def test_daytime_awards_and_night_patrols_are_not_flagged(app, watch):
    with app.app_context():
        night = yesterday_at(2, 30)
        record(watch, "grid_worker", watch.people["resident"], occurred_at=night.replace(hour=10))
        record(watch, "grid_worker", watch.people["resident"], activity="patrol", occurred_at=night)
        record(
            watch, "grid_worker", watch.people["resident"], occurred_at=night.replace(hour=5)
        )  # 05:00 is day
        assert found("odd_hours") == []
        app.config["FAIRNESS_ODD_HOURS"] = "22:00-06:00"  # across midnight, configured
        assert len(found("odd_hours")) == 1


def test_a_burst_of_awards_by_one_recorder_is_flagged(app, watch):
    with app.app_context():
        start = yesterday_at(9)
        members = residents(watch, 10)
        burst = [
            record(watch, "grid_worker", member, recorded_at=start + timedelta(minutes=index))
            for index, member in enumerate(members[:9])
        ]
        record(watch, "grid_worker", members[9], recorded_at=start + timedelta(hours=3))
        [finding] = found("burst")
        assert finding.member_id == watch.people["grid_worker"] and finding.facts["count"] == 9
        assert [row["contribution_id"] for row in finding.evidence] == burst


def test_awards_spread_over_the_day_are_not_a_burst(app, watch):
    with app.app_context():
        start = yesterday_at(9)
        for index, member in enumerate(residents(watch, 12)):
            record(watch, "grid_worker", member, recorded_at=start + timedelta(minutes=2 * index))
        assert found("burst") == []  # at most 5 in any 10 minutes


def _claim(world, who: str, hours_ago: float) -> int:
    claim = contributions.record_contribution(
        person(world, who), world.people[who], "publicity", Decimal(1), utcnow() - timedelta(hours=3)
    )
    begin_writing(db.session)
    db.session.get(Contribution, claim.id).created_at = utcnow() - timedelta(hours=hours_ago)
    db.session.commit()
    return claim.id


def test_claims_approved_within_seconds_again_and_again_are_flagged(app, watch):
    with app.app_context():
        make_activity("claimable", points=5, category="other")
        claims = [_claim(watch, who, 0) for who in ("resident", "villager", "neighbour")]
        for claim in claims:
            contributions.approve_contribution(person(watch, "organiser"), claim)
        [finding] = found("quick_approvals")
        assert finding.member_id == watch.people["organiser"] and finding.facts["count"] == 3
        assert sorted(row["contribution_id"] for row in finding.evidence) == sorted(claims)
        assert all(row["seconds"] < 10 for row in finding.evidence)


def test_claims_reviewed_after_a_while_or_approved_by_a_rule_are_not_flagged(app, watch):
    with app.app_context():
        for who in ("resident", "villager", "neighbour"):
            contributions.approve_contribution(person(watch, "organiser"), _claim(watch, who, 1))
        make_activity(
            "self_service",
            points=5,
            category="other",
            needs_review=False,
            created_by_id=watch.people["organiser"],
        )
        for _ in range(4):  # approved at once by the activity's own rule: no review to rush
            contributions.record_contribution(
                person(watch, "resident"),
                watch.people["resident"],
                "self_service",
                Decimal(1),
                utcnow() - timedelta(hours=1),
            )
        assert found("quick_approvals") == []


def _grid_points(world, grid: str, per_member: int, members: int) -> None:
    ids = residents(world, members, grid)
    begin_writing(db.session)
    for member_id in ids:
        ledger.award(member_id, per_member, occurred_at=utcnow() - timedelta(hours=1), actor_id=None)
    db.session.commit()


def test_a_grid_far_above_its_siblings_per_resident_is_flagged(app, watch):
    with app.app_context():
        make_unit("东街三网格", "grid", db.session.get(OrgUnit, watch.units["community_a"]))
        begin_writing(db.session)
        for key in ("resident", "villager", "grid_worker", "neighbour"):  # the world's residents count too
            ledger.award(watch.people[key], 10, occurred_at=utcnow() - timedelta(hours=1), actor_id=None)
        db.session.commit()
        _grid_points(watch, "grid_a", 200, 3)
        _grid_points(watch, "grid_a2", 10, 3)
        third = db.session.scalar(sa.select(OrgUnit.id).where(OrgUnit.name == "东街三网格"))
        ids = [
            make_member(f"三网格{index}", db.session.get(OrgUnit, third), commit=False).id
            for index in range(2)
        ]
        db.session.commit()
        begin_writing(db.session)
        for member_id in ids:
            ledger.award(member_id, 12, occurred_at=utcnow() - timedelta(hours=1), actor_id=None)
        db.session.commit()
        [finding] = found("grid_outlier")
        assert finding.org_unit_id == watch.units["grid_a"] and finding.member_id is None
        # grid A: (3 × 200 + 3 × 10) / 6 = 105 per resident; siblings 10 and 12: median 11.
        assert finding.facts["per_capita"] == 105.0 and finding.facts["median"] == 11.0
        assert {row["grid"] for row in finding.evidence} == {"东街一网格", "东街二网格", "东街三网格"}


def test_grids_close_to_each_other_are_not_flagged(app, watch):
    with app.app_context():
        _grid_points(watch, "grid_a", 25, 3)
        _grid_points(watch, "grid_a2", 10, 3)
        assert found("grid_outlier") == []  # 2.4 times its sibling: under 3


def _county_of(world, scores: list[int]) -> list[int]:
    ids = residents(world, len(scores), "grid_b")
    begin_writing(db.session)
    for member_id, score in zip(ids, scores):
        ledger.award(member_id, score, occurred_at=utcnow() - timedelta(hours=1), actor_id=None)
    db.session.commit()
    return ids


def test_a_member_far_above_the_countys_99th_percentile_is_flagged(app, watch):
    with app.app_context():
        ids = _county_of(watch, [10] * 119 + [300])
        [finding] = found("member_outlier")
        assert finding.member_id == ids[-1]
        assert (
            finding.facts["p99"] == 10 and finding.facts["points"] == 300 and finding.facts["ranked"] == 120
        )


def test_a_county_with_no_one_far_above_or_too_few_ranked_is_not_flagged(app, watch):
    with app.app_context():
        _county_of(watch, [10] * 118 + [15, 19])
        assert found("member_outlier") == []
        app.config["FAIRNESS_MEMBER_MIN_RANKED"] = 1000
        _county_of(watch, [500])
        assert found("member_outlier") == []


# --- flags: kept once, decided, audited, seen in scope -------------------------------------------


def test_a_scan_keeps_each_finding_once_and_changes_nothing_else(app, watch, runner):
    with app.app_context():
        favour(watch)
        contributions = db.session.execute(sa.select(Contribution.id, Contribution.status)).all()
        transactions = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction))
    first = runner.invoke(args=["fairness", "scan"])
    assert first.exit_code == 0 and "1 new flags" in first.output
    second = runner.invoke(args=["fairness", "scan"])
    assert "0 new flags, 1 open flags refreshed" in second.output
    with app.app_context():
        [flag] = db.session.scalars(sa.select(FairnessFlag)).all()
        assert flag.rule == "favoured_members" and flag.status == "open"
        assert flag.org_unit_id == watch.units["grid_a"]  # where everyone the recorder recorded for lives
        assert db.session.execute(sa.select(Contribution.id, Contribution.status)).all() == contributions
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == transactions
        actions = set(
            db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("fairness.%")))
        )
        assert actions == {"fairness.flag", "fairness.scan"}


def test_a_decided_flag_stays_decided_when_found_again(app, watch):
    with app.app_context():
        favour(watch)
        fairness.scan()
        flag_id = db.session.scalar(sa.select(FairnessFlag.id))
        fairness.decide_flag(person(watch, "organiser"), flag_id, "dismiss", "他们是志愿队骨干")
        assert fairness.scan() == {"found": 1, "new": 0, "refreshed": 0}
        flag = db.session.get(FairnessFlag, flag_id)
        assert flag.status == "dismissed" and flag.reason == "他们是志愿队骨干"
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "fairness.dismiss"))
        assert entry.actor_id == watch.people["organiser"] and entry.reason == "他们是志愿队骨干"


def test_deciding_a_flag_needs_a_reason_scope_not_being_its_subject_and_an_open_flag(app, watch):
    with app.app_context():
        favour(watch)
        fairness.scan()
        flag_id = db.session.scalar(sa.select(FairnessFlag.id))
        with pytest.raises(AppError) as blank:
            fairness.decide_flag(person(watch, "organiser"), flag_id, "act", "  ")
        assert blank.value.status == 422
        for who, code in (
            ("grid_worker", "forbidden"),
            ("grid_worker_b", "forbidden"),
            ("resident", "forbidden"),
        ):
            with pytest.raises(AppError) as refused:
                fairness.decide_flag(person(watch, who), flag_id, "act", "谈话")
            assert refused.value.code == code, who
        # The recorder flagged, given an organiser's role, still may not decide their own flag.
        from core.identity.models import RoleGrant

        db.session.add(
            RoleGrant(
                member_id=watch.people["grid_worker"], role="organiser", org_unit_id=watch.units["town_a"]
            )
        )
        db.session.commit()
        with pytest.raises(AppError) as own:
            fairness.decide_flag(
                db.session.get(Member, watch.people["grid_worker"]), flag_id, "dismiss", "没问题"
            )
        assert own.value.code == "self_review"
        assert fairness.list_flags(db.session.get(Member, watch.people["grid_worker"]))["total"] == 0
        fairness.decide_flag(person(watch, "admin"), flag_id, "act", "已约谈并复核记录")
        with pytest.raises(AppError) as again:
            fairness.decide_flag(person(watch, "organiser"), flag_id, "dismiss", "再看")
        assert again.value.code == "invalid_state"
        assert db.session.get(FairnessFlag, flag_id).status == "acted"


def test_organisers_see_only_the_flags_in_their_scope(app, watch):
    with app.app_context():
        _county_of(watch, [10] * 119 + [300])  # a member of town B far above the county
        fairness.scan()
        [flag] = db.session.scalars(sa.select(FairnessFlag)).all()
        assert flag.rule == "member_outlier" and flag.org_unit_id == watch.units["grid_b"]
        assert fairness.list_flags(person(watch, "organiser"))["total"] == 0
        assert fairness.list_flags(person(watch, "global_admin"))["total"] == 1
        with pytest.raises(AppError) as refused:
            fairness.get_flag(person(watch, "organiser"), flag.id)
        assert refused.value.status == 403
        with pytest.raises(AppError):
            fairness.list_flags(person(watch, "resident"))


def test_the_console_lists_flags_shows_evidence_decides_and_lets_admins_run_the_watch(app, watch):
    with app.app_context():
        favour(watch)
    organiser = signed_in(app, watch, "organiser")
    listing = organiser.get("/admin/fairness").get_data(as_text=True)
    assert "立即运行监测" not in listing and "没有提示" in listing
    token = csrf_token(organiser.get("/me").get_data(as_text=True))
    assert organiser.post("/admin/fairness/scan", data={"csrf_token": token}).status_code == 403
    admin = signed_in(app, watch, "global_admin")
    page = admin.get("/admin/fairness").get_data(as_text=True)
    assert admin.post("/admin/fairness/scan", data={"csrf_token": csrf_token(page)}).status_code == 303
    listing = organiser.get("/admin/fairness").get_data(as_text=True)
    assert "积分集中给少数人" in listing and "王网格" in listing
    with app.app_context():
        flag_id = db.session.scalar(sa.select(FairnessFlag.id))
    detail = organiser.get(f"/admin/fairness/{flag_id}").get_data(as_text=True)
    assert detail.count("<tr>") == 10 and "居民0" in detail  # the heading and nine favoured awards
    blank = organiser.post(
        f"/admin/fairness/{flag_id}", data={"csrf_token": csrf_token(detail), "decision": "act", "reason": ""}
    )
    assert blank.status_code == 422
    done = organiser.post(
        f"/admin/fairness/{flag_id}",
        data={"csrf_token": csrf_token(detail), "decision": "act", "reason": "已复核并约谈"},
    )
    assert done.status_code == 303
    assert f"/admin/fairness/{flag_id}" in organiser.get("/admin/fairness?status=acted").get_data(
        as_text=True
    )
    with app.app_context():
        assert db.session.get(FairnessFlag, flag_id).status == "acted"
