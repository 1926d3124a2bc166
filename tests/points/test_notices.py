"""The monthly public notice (积分公示): publishing a finished month, its entries (equal to a
brute-force query), its five-working-day window, who may read it, objections while it is open and
only by its members, deciding them (reversed once, both sides told, the objector never named to
the contributor), 公示通过 in the member's history, the printable notice and the pages."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import SHANGHAI
from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from core.notifications import Notification
from points import contributions, notices
from points.ledger import verify_ledger
from points.models import Activity, Contribution, LedgerTransaction, Notice, NoticeEntry, Objection
from tests.factories import make_activity, make_award, make_member
from tests.rewards.conftest import person
from tests.support.pages import csrf_token, signed_in

LAST_MONTH = (utcnow().astimezone(SHANGHAI).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def in_month(month: str, day: int = 10, hour: int = 10) -> datetime:
    """A moment inside a month (Asia/Shanghai)."""
    year, number = map(int, month.split("-"))
    return datetime(year, number, day, hour, tzinfo=SHANGHAI)


def settle(
    member_id: int,
    points: int = 10,
    occurred_at: datetime | None = None,
    *,
    by: str = "global_admin",
    world=None,
    activity: str = "patrol",
) -> int:
    """An approved contribution with its points posted, recorded by one of the world's staff."""
    award = make_award(
        person(world, by),
        member_id,
        activity=activity,
        points=points,
        occurred_at=occurred_at or in_month(LAST_MONTH),
    )
    return award.id


@pytest.fixture
def scene(app, world):
    """The world, an activity, and last month's approved contributions in town A's community and in town B."""
    with app.app_context():
        make_activity("patrol", points=10, category="patrol")
        ids = {
            key: settle(world.people[key], world=world)
            for key in ("resident", "villager", "neighbour", "outsider")
        }
    return world, ids


def publish(client, world, who="organiser", unit="community_a", month=LAST_MONTH):
    return client.post(
        "/api/v1/notices", headers=world.headers[who], json={"org_unit_id": world.units[unit], "month": month}
    )


def entries_of(client, world, notice_id, who="resident") -> list[dict]:
    found, page = [], 1
    while True:
        body = client.get(f"/api/v1/notices/{notice_id}?page={page}", headers=world.headers[who]).get_json()
        found += body["entries"]
        if page * body["page_size"] >= body["total"]:
            return found
        page += 1


# --- publishing and reading ---------------------------------------------------------------------


def test_a_notice_lists_every_approved_contribution_of_the_month_in_the_subtree(app, client, scene):
    world, ids = scene
    with app.app_context():
        first_hour = settle(world.people["resident"], 7, in_month(LAST_MONTH, 1, 0), world=world)
        settle(world.people["resident"], 3, in_month(LAST_MONTH, 1, 0) - timedelta(minutes=1), world=world)
        reversed_id = settle(world.people["villager"], 4, world=world)
        contributions.reverse_contribution(person(world, "global_admin"), reversed_id, "录错了")
        pending = contributions.record_contribution(
            person(world, "resident"),
            world.people["resident"],
            "patrol",
            Decimal(1),
            utcnow() - timedelta(hours=1),
        ).id
    response = publish(client, world)
    assert response.status_code == 201
    notice = response.get_json()
    assert notice["entries_count"] == 4 and notice["status"] == "open"
    listed = entries_of(client, world, notice["id"])
    assert sorted(entry["contribution_id"] for entry in listed) == sorted(
        [ids["resident"], ids["villager"], ids["neighbour"], first_hour]
    )
    assert pending not in [entry["contribution_id"] for entry in listed]
    first = next(entry for entry in listed if entry["contribution_id"] == first_hour)
    assert first["display_name"] == "张*民" and first["org_unit"]["name"] == "东街一网格"
    assert first["activity"]["code"] == "patrol" and first["quantity"] == "1.0" and first["points"] == 7


def test_publishing_needs_a_finished_month_the_right_and_a_first_time(app, client, scene):
    world, _ids = scene
    this_month = utcnow().astimezone(SHANGHAI).strftime("%Y-%m")
    assert publish(client, world, month=this_month).get_json()["code"] == "validation_error"
    assert publish(client, world, month="2026-13").status_code == 422
    assert publish(client, world, who="grid_worker").status_code == 403
    assert publish(client, world, unit="community_b").status_code == 403
    assert (
        client.post(
            "/api/v1/notices",
            headers=world.headers["organiser"],
            json={"org_unit_id": 999999, "month": LAST_MONTH},
        ).status_code
        == 404
    )
    assert publish(client, world).status_code == 201
    again = publish(client, world, who="admin")
    assert again.status_code == 409 and again.get_json()["code"] == "duplicate"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 1


def test_a_notice_is_open_for_five_working_days_after_the_day_it_was_published(app, scene):
    world, _ids = scene
    thursday = datetime(2026, 12, 3, 15, 30, tzinfo=SHANGHAI)
    with app.app_context():
        notice = notices.publish_notice(
            person(world, "organiser"), world.units["community_a"], "2026-11", thursday
        )
        # Fri 4, Mon 7, Tue 8, Wed 9, Thu 10: open until the end of Thursday 10 December.
        assert notice.closes_at == datetime(2026, 12, 11, tzinfo=SHANGHAI)
        assert notices.notice_status(notice, datetime(2026, 12, 10, 23, 59, tzinfo=SHANGHAI)) == "open"
        assert notices.notice_status(notice, datetime(2026, 12, 11, tzinfo=SHANGHAI)) == "closed"
        app.config["PUBLIC_HOLIDAYS"] = frozenset({date(2026, 12, 7)})
        later = notices.publish_notice(person(world, "organiser"), world.units["town_a"], "2026-11", thursday)
        assert later.closes_at == datetime(2026, 12, 12, tzinfo=SHANGHAI)


def test_members_of_the_subtree_and_staff_in_scope_read_a_notice_others_do_not(app, client, scene):
    world, _ids = scene
    notice_id = publish(client, world).get_json()["id"]
    for who in ("resident", "neighbour", "grid_worker", "organiser", "admin", "global_admin"):
        assert client.get(f"/api/v1/notices/{notice_id}", headers=world.headers[who]).status_code == 200, who
    for who in ("outsider", "grid_worker_b", "clerk"):
        assert client.get(f"/api/v1/notices/{notice_id}", headers=world.headers[who]).status_code == 403, who
    assert client.get(f"/api/v1/notices/{notice_id}").status_code == 401
    assert client.get("/api/v1/notices/999999", headers=world.headers["resident"]).status_code == 404
    listed = client.get("/api/v1/notices", headers=world.headers["resident"]).get_json()
    assert [item["id"] for item in listed["items"]] == [notice_id]
    assert client.get("/api/v1/notices", headers=world.headers["outsider"]).get_json()["total"] == 0


def test_anonymous_and_hidden_members_show_as_anonymous_and_names_are_masked(app, client, scene):
    world, _ids = scene
    with app.app_context():
        person(world, "resident").anonymous = True
        person(world, "villager").hidden = True
        db.session.commit()
    notice_id = publish(client, world).get_json()["id"]
    names = {entry["display_name"] for entry in entries_of(client, world, notice_id)}
    assert names == {"匿名", "刘*居"}
    english = client.get(
        f"/api/v1/notices/{notice_id}", headers={**world.headers["resident"], "Accept-Language": "en"}
    ).get_json()
    assert "Anonymous" in {entry["display_name"] for entry in english["entries"]}


# --- entries equal a brute-force query ------------------------------------------------------------

MONTHS = ("2026-09", "2026-10", "2026-11")
UNITS = ("county", "town_a", "town_b", "community_a", "community_b", "grid_a", "grid_a2", "grid_b")
MEMBERS = ("resident", "villager", "neighbour", "outsider", "grid_worker", "grid_worker_b", "organiser")
STATUSES = ("approved", "approved", "pending", "rejected", "reversed")
#: Minutes from 2026-08-31 00:00 Shanghai to 2026-12-01 00:00 Shanghai: every month edge in between.
SPAN = int(
    (datetime(2026, 12, 1, tzinfo=SHANGHAI) - datetime(2026, 8, 31, tzinfo=SHANGHAI)).total_seconds() // 60
)

contribution_rows = st.lists(
    st.tuples(
        st.sampled_from(MEMBERS),
        st.sampled_from(STATUSES),
        st.one_of(
            st.integers(0, SPAN - 1),  # anywhere, or within 2 hours of an edge
            st.sampled_from([0, 30 * 1440, 61 * 1440, 91 * 1440]).flatmap(
                lambda edge: st.integers(max(edge - 120, 0), min(edge + 120, SPAN - 1))
            ),
        ),
    ),
    max_size=25,
)


def brute_force(unit: OrgUnit, month: str) -> set[int]:
    """Every approved contribution whose Shanghai month is ``month`` by a member living under ``unit``."""
    found = set()
    for contribution in db.session.scalars(sa.select(Contribution)):
        member = db.session.get(Member, contribution.member_id)
        local = contribution.occurred_at.astimezone(SHANGHAI)
        if (
            contribution.status == "approved"
            and f"{local.year}-{local.month:02d}" == month
            and member.org_unit is not None
            and member.org_unit.path.startswith(unit.path)
        ):
            found.add(contribution.id)
    return found


def _standing_ids(notice: Notice) -> set[int]:
    shown = notices.shown_notice(notice, 1, 100)
    ids, page = set(), 1
    while True:
        ids |= {entry["contribution_id"] for entry in notices.shown_notice(notice, page, 7)["entries"]}
        if page * 7 >= shown["total"]:
            return ids
        page += 1


@settings(max_examples=40)
@given(
    rows=contribution_rows,
    unit_key=st.sampled_from(UNITS),
    month=st.sampled_from(MONTHS),
    later_reversed=st.sets(st.integers(0, 24), max_size=5),
)
def test_the_entries_equal_a_brute_force_query(app, world, rows, unit_key, month, later_reversed):
    with app.app_context():
        activity = db.session.scalar(sa.select(Activity).where(Activity.code == "patrol")) or make_activity(
            "patrol"
        )
        start = datetime(2026, 8, 31, tzinfo=SHANGHAI)
        begin_writing(db.session)
        made = []
        for key, status, minute in rows:
            contribution = Contribution(
                member_id=world.people[key],
                activity_id=activity.id,
                quantity=Decimal(1),
                points=5,
                status=status,
                occurred_at=start + timedelta(minutes=minute),
                recorded_by_id=world.people["global_admin"],
            )
            db.session.add(contribution)
            made.append(contribution)
        db.session.commit()
        unit = db.session.get(OrgUnit, world.units[unit_key])
        try:
            notice = notices.publish_notice(person(world, "global_admin"), unit.id, month)
            assert {
                entry.contribution_id
                for entry in db.session.scalars(
                    sa.select(NoticeEntry).where(NoticeEntry.notice_id == notice.id)
                )
            } == brute_force(unit, month)
            assert notice.entries_count == len(brute_force(unit, month))
            assert _standing_ids(notice) == brute_force(unit, month)
            begin_writing(db.session)
            for index in later_reversed:
                if index < len(made) and made[index].status == "approved":
                    made[index].status = "reversed"
            db.session.commit()
            assert _standing_ids(notice) == brute_force(unit, month)  # taken back: no longer on it
        finally:
            db.session.rollback()
            begin_writing(db.session)
            db.session.execute(sa.delete(NoticeEntry))
            db.session.execute(sa.delete(Notice))
            db.session.execute(sa.delete(Contribution))
            db.session.commit()


# --- objections ---------------------------------------------------------------------------------


def lodge(client, world, notice_id, contribution_id, who="villager", reason="那天他不在村里"):
    return client.post(
        f"/api/v1/notices/{notice_id}/objections",
        headers=world.headers[who],
        json={"contribution_id": contribution_id, "reason": reason},
    )


def close_notice(notice_id: int) -> None:
    begin_writing(db.session)
    db.session.get(Notice, notice_id).closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()


def test_a_member_of_the_subtree_objects_while_the_notice_is_open(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    response = lodge(client, world, notice_id, ids["resident"])
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "pending" and body["objector"]["id"] == world.people["villager"]
    # Only members living in the notice's area: not a member of another town, nor staff of no grid.
    for who in ("outsider", "organiser", "global_admin"):
        refused = lodge(client, world, notice_id, ids["resident"], who=who)
        assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden"), who
    assert lodge(client, world, notice_id, ids["outsider"], who="neighbour").status_code == 422  # not on it
    again = lodge(client, world, notice_id, ids["resident"])
    assert (again.status_code, again.get_json()["code"]) == (409, "duplicate")
    with app.app_context():
        close_notice(notice_id)
    late = lodge(client, world, notice_id, ids["villager"], who="neighbour")
    assert (late.status_code, late.get_json()["code"]) == (422, "outside_window")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 1


def test_objecting_to_an_entry_already_taken_back_is_refused(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    with app.app_context():
        contributions.reverse_contribution(person(world, "organiser"), ids["resident"], "录错了")
    assert lodge(client, world, notice_id, ids["resident"]).get_json()["errors"] == {
        "contribution_id": ["not an entry of this notice"]
    }


def test_objections_are_limited_per_member_a_day(app, client, scene):
    world, _ids = scene
    with app.app_context():
        extra = [settle(world.people["resident"], 1, world=world) for _ in range(6)]
    notice_id = publish(client, world).get_json()["id"]
    for contribution_id in extra[:5]:
        assert lodge(client, world, notice_id, contribution_id).status_code == 201
    limited = lodge(client, world, notice_id, extra[5])
    assert (limited.status_code, limited.get_json()["code"]) == (429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 24 * 3600
    assert lodge(client, world, notice_id, extra[5], who="neighbour").status_code == 201  # per member
    with app.app_context():
        begin_writing(db.session)
        db.session.execute(sa.update(Objection).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    assert lodge(client, world, notice_id, extra[5]).status_code == 201


def decide(client, world, objection_id, decision="uphold", who="organiser", reason="核实属实", **extra):
    return client.post(
        f"/api/v1/objections/{objection_id}/{decision}",
        headers=world.headers[who],
        json={"reason": reason, **extra},
    )


def notes(member_id: int) -> list[Notification]:
    return list(
        db.session.scalars(
            sa.select(Notification).where(
                Notification.member_id == member_id, Notification.kind.like("%objection%")
            )
        )
    )


def test_upholding_reverses_once_with_the_objection_as_the_reason_and_tells_both(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    first = lodge(client, world, notice_id, ids["resident"]).get_json()["id"]
    second = lodge(
        client, world, notice_id, ids["resident"], who="neighbour", reason="没见他巡逻"
    ).get_json()["id"]
    answer = decide(client, world, first)
    assert answer.status_code == 200 and answer.get_json()["status"] == "upheld"
    with app.app_context():
        assert db.session.get(Contribution, ids["resident"]).status == "reversed"
        reversal = db.session.scalars(
            sa.select(LedgerTransaction).where(
                LedgerTransaction.contribution_id == ids["resident"], LedgerTransaction.kind == "reversal"
            )
        ).all()
        assert len(reversal) == 1 and reversal[0].memo == "那天他不在村里"
        assert db.session.get(Objection, second).status == "upheld"  # the same entry: settled together
        assert verify_ledger() == []
        objector_notes = notes(world.people["villager"]) + notes(world.people["neighbour"])
        assert sorted(note.kind for note in objector_notes) == ["objection_upheld", "objection_upheld"]
        [contributor_note] = notes(world.people["resident"])
        assert contributor_note.kind == "entry_objection_upheld"
    again = decide(client, world, second, who="admin")
    assert (again.status_code, again.get_json()["code"]) == (409, "invalid_state")
    contributor = client.get("/api/v1/me/notifications", headers=world.headers["resident"]).get_json()[
        "items"
    ]
    text = next(item["text"] for item in contributor if item["kind"] == "entry_objection_upheld")
    assert "已收回 10 积分" in text and "钱" not in text and "刘" not in text  # never who objected
    objector = client.get("/api/v1/me/notifications", headers=world.headers["villager"]).get_json()["items"]
    assert any("张*民" in item["text"] for item in objector if item["kind"] == "objection_upheld")


def test_dismissing_keeps_the_points_and_tells_both(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    objection = lodge(client, world, notice_id, ids["resident"]).get_json()["id"]
    answer = decide(client, world, objection, "dismiss", reason="有签到记录")
    assert answer.status_code == 200 and answer.get_json()["status"] == "dismissed"
    with app.app_context():
        assert db.session.get(Contribution, ids["resident"]).status == "approved"
        assert [note.kind for note in notes(world.people["villager"])] == ["objection_dismissed"]
        assert [note.kind for note in notes(world.people["resident"])] == ["entry_objection_dismissed"]
        assert notes(world.people["resident"])[0].params["reason"] == "有签到记录"


def test_nobody_decides_on_their_own_act(app, client, scene):
    world, _ids = scene
    with app.app_context():
        grid_a = db.session.get(OrgUnit, world.units["grid_a"])
        town_a = db.session.get(OrgUnit, world.units["town_a"])
        # An organiser who lives in grid A, and one whose own contribution is on the notice.
        living = make_member("赵组织", grid_a, role="organiser", on=town_a)
        contributor = make_member("孙组织", grid_a, role="organiser", on=town_a)
        from tests.factories import auth

        headers = {"living": auth(living), "contributor": auth(contributor)}
        own = settle(contributor.id, world=world)
        recorded_by_organiser = settle(world.people["villager"], world=world, by="organiser")
        living_id = living.id
    notice_id = publish(client, world, who="admin").get_json()["id"]
    on_own = client.post(
        f"/api/v1/notices/{notice_id}/objections",
        headers=headers["living"],
        json={"contribution_id": own, "reason": "不属实"},
    ).get_json()["id"]
    on_recorded = lodge(client, world, notice_id, recorded_by_organiser, who="neighbour").get_json()["id"]
    as_objector = client.post(
        f"/api/v1/objections/{on_own}/uphold", headers=headers["living"], json={"reason": "x"}
    )
    as_contributor = client.post(
        f"/api/v1/objections/{on_own}/dismiss", headers=headers["contributor"], json={"reason": "x"}
    )
    as_approver = decide(client, world, on_recorded, "dismiss")
    for answer in (as_objector, as_contributor, as_approver):
        assert (answer.status_code, answer.get_json()["code"]) == (403, "self_review")
    # The contributor, an organiser in scope, sees the objection to their entry but never its objector.
    listed = client.get("/api/v1/objections?status=pending", headers=headers["contributor"]).get_json()[
        "items"
    ]
    mine = next(item for item in listed if item["id"] == on_own)
    assert mine["objector"] is None
    others = client.get("/api/v1/objections?status=pending", headers=world.headers["admin"]).get_json()[
        "items"
    ]
    assert next(item for item in others if item["id"] == on_own)["objector"]["id"] == living_id
    assert decide(client, world, on_own, who="admin").status_code == 200


def test_deciding_needs_an_organiser_in_scope(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    objection = lodge(client, world, notice_id, ids["resident"]).get_json()["id"]
    for who in ("grid_worker", "resident", "clerk", "grid_worker_b"):
        answer = decide(client, world, objection, who=who)
        assert (answer.status_code, answer.get_json()["code"]) == (403, "forbidden"), who
    assert decide(client, world, 999999).status_code == 404
    assert (
        client.post(
            f"/api/v1/objections/{objection}/uphold", headers=world.headers["organiser"], json={}
        ).status_code
        == 422
    )
    with app.app_context():
        assert db.session.get(Objection, objection).status == "pending"


def test_points_already_spent_are_taken_back_only_by_an_admin_forcing_it(app, client, scene):
    world, ids = scene
    with app.app_context():
        from points import ledger

        begin_writing(db.session)
        ledger.hold(world.people["resident"], 10, reference="voucher:test", actor_id=None)
        db.session.commit()
    notice_id = publish(client, world).get_json()["id"]
    objection = lodge(client, world, notice_id, ids["resident"]).get_json()["id"]
    refused = decide(client, world, objection)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "insufficient_points")
    assert decide(client, world, objection, force=True).status_code == 403  # organisers may not force
    assert decide(client, world, objection, who="admin", force=True).status_code == 200
    with app.app_context():
        assert verify_ledger() == [] and db.session.get(Contribution, ids["resident"]).status == "reversed"


def prefixed_token(html: str, objection_id: int) -> str:
    """The CSRF token of one objection's decision form (its fields carry the objection's prefix)."""
    return re.search(rf'name="o{objection_id}-csrf_token"[^>]*value="([^"]+)"', html).group(1)


def decide_in_console(browser, queue: str, objection_id: int, decision: str, reason: str):
    """Submit one objection's decision form of the console's queue page ``queue``."""
    prefix = f"o{objection_id}-"
    return browser.post(
        f"/admin/objections/{objection_id}",
        data={
            prefix + "csrf_token": prefixed_token(queue, objection_id),
            prefix + "decision": decision,
            prefix + "reason": reason,
        },
    )


# --- 公示通过, the printed notice and the pages ------------------------------------------------------


def test_contributions_on_a_closed_notice_show_as_passed_in_the_members_history(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    browser = signed_in(app, world, "resident")
    assert "data-publicised" not in browser.get("/me/points").get_data(as_text=True)
    with app.app_context():
        close_notice(notice_id)
        assert notices.publicised([ids["resident"], ids["outsider"]]) == {ids["resident"]}
    page = browser.get("/me/points").get_data(as_text=True)
    assert page.count("data-publicised") == 1 and "公示通过" in page
    with app.app_context():
        contributions.reverse_contribution(person(world, "organiser"), ids["villager"], "录错了")
        assert notices.publicised([ids["villager"]]) == set()


def test_the_printed_notice_is_an_a4_pdf_with_a_qr_code_to_its_page(app, client, scene, monkeypatch):
    world, _ids = scene
    with app.app_context():
        for _ in range(45):
            settle(world.people["villager"], 1, world=world)
    notice_id = publish(client, world).get_json()["id"]
    drawn = []
    import points.notice_print as printing

    real = printing.render_png
    monkeypatch.setattr(
        printing, "render_png", lambda text, **kwargs: drawn.append(text) or real(text, **kwargs)
    )
    browser = signed_in(app, world, "organiser")
    pdf = browser.get(f"/notices/{notice_id}/notice.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.data)) == 2  # 48 entries: two pages
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", pdf.data)
    assert len(boxes) == 2 and all(
        abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes
    )  # A4
    assert drawn == [f"http://localhost/notices/{notice_id}"]
    assert signed_in(app, world, "outsider").get(f"/notices/{notice_id}/notice.pdf").status_code == 403


def test_a_notice_too_large_to_print_is_refused_clearly(app, client, scene, monkeypatch):
    world, _ids = scene
    monkeypatch.setattr(notices, "PRINT_MAX_ENTRIES", 2)
    notice_id = publish(client, world).get_json()["id"]
    answer = signed_in(app, world, "organiser").get(f"/notices/{notice_id}/notice.pdf")
    assert answer.status_code == 422 and "太多" in answer.get_data(as_text=True)


def test_a_member_objects_from_the_notice_page_and_a_refusal_keeps_the_reason(app, client, scene):
    world, ids = scene
    notice_id = publish(client, world).get_json()["id"]
    browser = signed_in(app, world, "villager")
    assert f"/notices/{notice_id}" in browser.get("/notices").get_data(as_text=True)
    page = browser.get(f"/notices/{notice_id}").get_data(as_text=True)
    assert page.count('class="object-link"') == 3 and "张*民" in page
    form = browser.get(f"/notices/{notice_id}/objections/{ids['resident']}").get_data(as_text=True)
    sent = browser.post(
        f"/notices/{notice_id}/objections/{ids['resident']}",
        data={"csrf_token": csrf_token(form), "reason": "他那天在外地"},
    )
    assert sent.status_code == 303
    assert "异议已提交" in browser.get(sent.headers["Location"]).get_data(as_text=True)
    assert "已提出异议" in browser.get(f"/notices/{notice_id}").get_data(as_text=True)
    with app.app_context():
        close_notice(notice_id)
    refused = browser.post(
        f"/notices/{notice_id}/objections/{ids['neighbour']}",
        data={"csrf_token": csrf_token(form), "reason": "我想再说一件事"},
    )
    assert refused.status_code == 422 and "我想再说一件事" in refused.get_data(as_text=True)
    assert "公示期已结束" in refused.get_data(as_text=True)
    assert 'class="object-link"' not in browser.get(f"/notices/{notice_id}").get_data(as_text=True)
    assert signed_in(app, world, "outsider").get(f"/notices/{notice_id}").status_code == 403


def test_organisers_publish_and_decide_from_the_console(app, client, scene):
    world, ids = scene
    browser = signed_in(app, world, "organiser")
    page = browser.get("/admin/notices").get_data(as_text=True)
    published = browser.post(
        "/admin/notices",
        data={
            "csrf_token": csrf_token(page),
            "org_unit": str(world.units["community_a"]),
            "month": LAST_MONTH,
        },
    )
    assert published.status_code == 303
    listing = browser.get("/admin/notices").get_data(as_text=True)
    assert "东街社区" in listing and "notice.pdf" in listing
    duplicate = browser.post(
        "/admin/notices",
        data={
            "csrf_token": csrf_token(page),
            "month": LAST_MONTH,
            "org_unit": str(world.units["community_a"]),
        },
    )
    assert duplicate.status_code == 409 and "已经发布" in duplicate.get_data(as_text=True)
    with app.app_context():
        notice_id = db.session.scalar(sa.select(Notice.id))
    objection = lodge(client, world, notice_id, ids["resident"]).get_json()["id"]
    queue = browser.get("/admin/objections").get_data(as_text=True)
    assert "那天他不在村里" in queue and "钱村民" in queue
    blank = decide_in_console(browser, queue, objection, "uphold", "")
    assert blank.status_code == 422
    done = decide_in_console(browser, queue, objection, "uphold", "属实")
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(Objection, objection).status == "upheld"
    again = decide_in_console(browser, queue, objection, "dismiss", "再看看")
    assert again.status_code == 409


def test_a_refused_decision_in_the_console_keeps_what_was_typed(app, client, scene):
    world, _ids = scene
    with app.app_context():
        recorded = settle(world.people["neighbour"], world=world, by="organiser")
    notice_id = publish(client, world, who="admin").get_json()["id"]
    objection = lodge(client, world, notice_id, recorded).get_json()["id"]
    browser = signed_in(app, world, "organiser")
    queue = browser.get("/admin/objections").get_data(as_text=True)
    refused = decide_in_console(browser, queue, objection, "dismiss", "我登记的没错")
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "我登记的没错" in html and "与您本人有关" in html
