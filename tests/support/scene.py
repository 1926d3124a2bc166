"""A world with something of each kind in both towns, for tests that call every endpoint.

``build_scene`` adds to ``tests/factories.py``'s world: a tree-wide activity and one
scoped to each town, a reward with a picture stocked at both supermarkets, points for
everybody, an open event, a pending claim with a photo and a reserved voucher in each
town, an open micro-wish and a patrol route open now in each town, last month's published honour
rolls, last month's public notice of each town's community with an entry and a pending objection, an
open fairness flag in town A, and this year's points budget of each town. Its ``fresh_*`` methods add
one more object each, for calls that use one up (approve, fulfil, close, take …).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from PIL import Image
from werkzeug.datastructures import FileStorage

from core.clock import SHANGHAI, last_month, parse_month, period_bounds, shanghai_today
from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity import cards
from core.identity.activation import issue_activation_codes
from core.identity.models import Member, OrgUnit, RoleGrant, Supermarket
from points import contributions, events, ledger, notices
from points.budgets import set_budget
from points.leaderboards.honour import close_month
from points.models import FairnessFlag, NoticeEntry, Objection
from points.patrols import services as patrols
from points.photos import store_photo
from points.wishes import services as wishes
from rewards import images, offline, stock, vouchers
from rewards.models import OfflineFulfilment
from rewards.services import create_reward
from tests.factories import (
    auth,
    build_world,
    make_activity,
    make_award,
    make_member,
    make_open_route,
    make_unit,
    next_phone,
    password_hash,
)

BASE_URL = "http://localhost/"
BUDGET_YEAR = shanghai_today().year
POINTS_EACH = 1000
STOCK_EACH = 500


def picture(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small picture's bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def upload(fmt: str = "PNG", name: str = "picture.png") -> FileStorage:
    """A picture as an uploaded file."""
    return FileStorage(io.BytesIO(picture(fmt)), filename=name, content_type=f"image/{fmt.lower()}")


def _with_grant(member: Member) -> tuple[int, int]:
    """A new member's id and the id of their one grant."""
    return member.id, db.session.scalar(sa.select(RoleGrant.id).where(RoleGrant.member_id == member.id))


@dataclass
class Scene:
    """Ids of the world and of one object of each kind per side ("inside" town A, "outside" town B)."""

    world: object
    ids: dict[str, dict[str, int]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    reward_id: int = 0
    months_used: int = 0

    # --- sides ---------------------------------------------------------------------------------

    def unit(self, scope: str, inside: str, outside: str) -> int:
        """An org unit's id on the given side."""
        return self.world.units[inside if scope == "inside" else outside]

    def shop(self, scope: str) -> int:
        """The supermarket's id on the given side."""
        return self.world.shops["a" if scope == "inside" else "b"]

    def owner(self, scope: str) -> int:
        """The resident whose objects lie on the given side (not one of the actors)."""
        return self.world.people["villager" if scope == "inside" else "outsider"]

    def person(self, key: str) -> Member:
        """Load one of the world's members."""
        return db.session.get(Member, self.world.people[key])

    def member(self, member_id: int) -> Member:
        """Load a member by id."""
        return db.session.get(Member, member_id)

    # --- fresh objects (call inside an app context) ------------------------------------------

    def fresh_member(self, scope: str) -> int:
        """A new resident in the side's grid."""
        unit = db.session.get(OrgUnit, self.unit(scope, "grid_a", "grid_b"))
        return make_member("新居民", unit).id

    def fresh_member_above(self, scope: str) -> int:
        """A new resident of the side's grid who also holds an admin grant on the whole county:
        only someone above the county (a global admin) may act on their account."""
        unit = db.session.get(OrgUnit, self.unit(scope, "grid_a", "grid_b"))
        return make_member(
            "县管理员", unit, role="admin", on=db.session.get(OrgUnit, self.world.units["county"])
        ).id

    def fresh_clerk(self, scope: str) -> int:
        """A new resident of the side's grid who is a clerk at the side's supermarket: only an admin
        whose scope covers that supermarket may act on their account."""
        unit = db.session.get(OrgUnit, self.unit(scope, "grid_a", "grid_b"))
        return make_member("新店员", unit, role="clerk", on=db.session.get(Supermarket, self.shop(scope))).id

    def fresh_grant(self, scope: str) -> tuple[int, int]:
        """A new grid worker of the side's grid: answer (member id, grant id)."""
        unit = db.session.get(OrgUnit, self.unit(scope, "grid_a", "grid_b"))
        return _with_grant(make_member("新网格员", unit, role="grid_worker", on=unit))

    def fresh_grant_above(self, scope: str) -> tuple[int, int]:
        """A new grid worker of the side's grid who also holds an admin grant on the whole county:
        answer (member id, the grid worker grant's id)."""
        unit = db.session.get(OrgUnit, self.unit(scope, "grid_a", "grid_b"))
        member = make_member("县管理员", unit, role="grid_worker", on=unit)
        grant_id = _with_grant(member)[1]
        db.session.add(RoleGrant.on(member, "admin", db.session.get(OrgUnit, self.world.units["county"])))
        db.session.commit()
        return member.id, grant_id

    def fresh_global_grant(self) -> tuple[int, int]:
        """A new global admin (an admin grant on no org unit): answer (member id, grant id)."""
        return _with_grant(make_member("新管理员", role="admin", on=None))

    def fresh_activation(self, scope: str) -> tuple[str, str]:
        """A new imported resident with an activation code: answer (phone, code)."""
        member = self.member(self.fresh_member(scope))
        code = issue_activation_codes([member.id], None)[member.id]
        db.session.commit()
        return member.phone, code

    def fresh_claim(self, member_id: int, photo_id: int | None = None) -> int:
        """A member's own pending claim of the tree-wide activity."""
        member = self.member(member_id)
        return contributions.record_contribution(
            member, member_id, "patrol", Decimal(1), utcnow() - timedelta(hours=1), photo_id=photo_id
        ).id

    def fresh_award(self, member_id: int) -> int:
        """A contribution recorded (approved at once) by the global admin."""
        return contributions.record_contribution(
            self.person("global_admin"), member_id, "patrol", Decimal(1), utcnow() - timedelta(hours=1)
        ).id

    def fresh_event(self, scope: str) -> int:
        """An event running now in the side's town."""
        now = utcnow()
        return events.create_event(
            self.person("global_admin"),
            "夜间巡逻",
            "patrol",
            self.unit(scope, "town_a", "town_b"),
            now - timedelta(hours=1),
            now + timedelta(hours=2),
        ).id

    def event_code(self, event_id: int) -> str:
        """The text of an event's check-in code."""
        return events.checkin_url(events.get_event(event_id), BASE_URL)

    def fresh_checkin(self, member_id: int, scope: str) -> int:
        """A member checked in to a new event on the side."""
        event_id = self.fresh_event(scope)
        return events.check_in(self.member(member_id), self.event_code(event_id)).id

    def fresh_voucher(self, member_id: int, scope: str) -> int:
        """A member's reserved voucher for one unit of the reward at the side's supermarket."""
        return vouchers.reserve_voucher(
            self.member(member_id), self.shop(scope), [{"reward_id": self.reward_id, "quantity": 1}]
        ).id

    def voucher_code(self, voucher_id: int) -> str:
        """The text of a voucher's QR code."""
        return vouchers.voucher_payload(vouchers.get_voucher_row(voucher_id), BASE_URL)

    def fresh_card(self, member_id: int) -> str:
        """A new member card for a member (issued by the global admin): its number."""
        return cards.issue_card(self.person("global_admin"), self.member(member_id)).number

    def fresh_pay_code(self, member_id: int) -> str:
        """A new pay code of a member: its digits."""
        return cards.issue_pay_code(self.member(member_id))[1]

    def offline_scan(self, voucher_id: int) -> dict:
        """A scan of a voucher made at a counter without signal, as the device sends it."""
        return {
            "scan_id": str(uuid.uuid4()),
            "voucher_id": voucher_id,
            "code": self.voucher_code(voucher_id),
            "scanned_at": (utcnow() - timedelta(minutes=5)).isoformat(),
        }

    def fresh_conflict(self, scope: str) -> int:
        """An offline scan of a voucher already handed over at the side's supermarket: a conflict."""
        voucher_id = self.fresh_voucher(self.owner(scope), scope)
        admin = self.person("global_admin")
        vouchers.fulfil_voucher(admin, voucher_id, payload=self.voucher_code(voucher_id))
        scan = {**self.offline_scan(voucher_id), "scanned_at": utcnow() - timedelta(minutes=5)}
        offline.record_offline_fulfilments(admin, self.shop(scope), [scan])
        return db.session.scalar(
            sa.select(OfflineFulfilment.id).where(OfflineFulfilment.scan_id == scan["scan_id"])
        )

    def fresh_wish(self, scope: str, step: str = "open", done_days_ago: int = 0) -> int:
        """A wish of the side's owner at a step: ``submitted``, ``vetted``, ``open``, ``taken`` or ``done``
        (taken and done by the neighbour, done ``done_days_ago`` days back)."""
        admin = self.person("global_admin")
        wish = wishes.post_wish(self.member(self.owner(scope)), "帮忙搬煤", "三楼，十袋煤").id
        steps = ("submitted", "vetted", "open", "taken", "done")
        if steps.index(step) >= 1:
            wishes.vet_wish(admin, wish, "accept")
        if steps.index(step) >= 2:
            wishes.publish_wish(admin, wish, 20, utcnow() + timedelta(days=7))
        if steps.index(step) >= 3:
            wishes.take_wish(
                self.person("neighbour"), wish, now=utcnow() - timedelta(days=done_days_ago, hours=1)
            )
        if steps.index(step) >= 4:
            wishes.mark_done(
                self.person("neighbour"), wish, "搬完了", now=utcnow() - timedelta(days=done_days_ago)
            )
        return wish

    def fresh_route(self, scope: str) -> int:
        """A patrol route of two checkpoints in the side's town, open from two hours ago to two hours on."""
        unit = self.unit(scope, "town_a", "town_b")
        return make_open_route(
            self.person("global_admin"), unit, "patrol", ["村委会", "小学门口"], hours=2
        ).id

    def checkpoint_code(self, route_id: int, position: int = 1) -> str:
        """The text of a route's checkpoint code."""
        return patrols.checkpoint_url(patrols.get_route(route_id).checkpoints[position - 1], BASE_URL)

    def fresh_month(self) -> str:
        """A finished month no call has confirmed yet ("YYYY-MM"), going back from last month."""
        self.months_used += 1
        first = utcnow().astimezone(SHANGHAI).date().replace(day=1)
        for _ in range(self.months_used):
            first = (first - timedelta(days=1)).replace(day=1)
        return first.strftime("%Y-%m")

    def fresh_token(self, key: str, *, reset_password: bool = False) -> dict:
        """Bearer headers of a new token of one of the world's members (their password reset first)."""
        member = self.person(key)
        if reset_password:
            member.password_hash = password_hash()
        return auth(member)

    def ensure_picture(self) -> None:
        """Give the reward its picture again if a call removed it."""
        images.set_reward_image(self.person("global_admin"), self.reward_id, upload())

    # --- the public notice ----------------------------------------------------------------------

    def fresh_notice_unit(self, scope: str) -> int:
        """A new community in the side's town, with no notice yet."""
        town = db.session.get(OrgUnit, self.unit(scope, "town_a", "town_b"))
        return make_unit(f"新社区{next_phone()}", "community", town).id

    def fresh_entry(self, scope: str) -> int:
        """A new approved contribution of last month by the side's owner, on the side's notice."""
        contribution_id = settled_last_month(self, scope)
        begin_writing(db.session)
        db.session.add(
            NoticeEntry(
                notice_id=self.ids[scope]["notice"],
                contribution_id=contribution_id,
                member_id=self.owner(scope),
                display_name="*",
                grid_id=self.unit(scope, "grid_a", "grid_b"),
            )
        )
        db.session.commit()
        return contribution_id

    def fresh_objection(self, scope: str) -> int:
        """A pending objection to a new entry of the side's notice (by a member living there)."""
        objection = Objection(
            notice_id=self.ids[scope]["notice"],
            contribution_id=self.fresh_entry(scope),
            objector_id=self.world.people["neighbour" if scope == "inside" else "outsider"],
            reason="不属实",
            status="pending",
        )
        begin_writing(db.session)
        db.session.add(objection)
        db.session.commit()
        return objection.id


def give_points(member_ids, points: int) -> None:
    """Award points straight through the ledger, in one transaction."""
    begin_writing(db.session)
    for member_id in member_ids:
        ledger.award(member_id, points, occurred_at=utcnow(), actor_id=None)
    db.session.commit()


def settled_last_month(scene: Scene, scope: str) -> int:
    """An approved contribution of the side's owner in last month, recorded by the side's grid worker."""
    recorder = scene.person("grid_worker" if scope == "inside" else "grid_worker_b")
    start, _end = period_bounds("month", parse_month(last_month()))
    award = make_award(
        recorder,
        scene.owner(scope),
        activity="patrol",
        points=10,
        occurred_at=start + timedelta(days=9, hours=10),
    )
    return award.id


def favouring_flag(scene: Scene) -> int:
    """An open fairness flag on the inside grid worker favouring the villager, as the watch keeps one."""
    worker, villager = scene.person("grid_worker"), scene.world.people["villager"]
    moment = utcnow() - timedelta(days=1)
    rows = [
        {
            "contribution_id": 1000 + number,
            "member_id": villager,
            "member": "钱村民",
            "points": 50,
            "occurred_at": moment.isoformat(timespec="seconds"),
            "recorded_at": moment.isoformat(timespec="seconds"),
        }
        for number in range(3)
    ]
    flag = FairnessFlag(
        rule="favoured_members",
        fingerprint=f"favoured_members:{worker.id}:{last_month()}",
        member_id=worker.id,
        org_unit_id=scene.world.units["grid_a"],
        evidence=rows,
        facts={
            "share": 90,
            "total": 150,
            "few": 1,
            "median": 5,
            "days": 30,
            "whom": worker.name,
            "favoured": [{"member_id": villager, "member": "钱村民", "points": 150}],
        },
    )
    begin_writing(db.session)
    db.session.add(flag)
    db.session.commit()
    return flag.id


def build_scene() -> Scene:
    """Build the world and one object of each kind on each side (call inside an app context)."""
    world = build_world()
    scene = Scene(world)
    admin = scene.person("global_admin")
    make_activity("patrol", points=10)
    for scope, town in (("inside", "town_a"), ("outside", "town_b")):
        code = f"drill_{town}"
        make_activity(code, points=5, org_unit=db.session.get(OrgUnit, world.units[town]))
        scene.codes[scope] = code
    scene.reward_id = create_reward(admin, {"name": "肥皂", "points_cost": 10, "per_member_limit": None}).id
    scene.ensure_picture()
    for shop_id in world.shops.values():
        stock.receive_stock(admin, shop_id, scene.reward_id, STOCK_EACH)
    give_points(world.people.values(), POINTS_EACH)
    for scope in ("inside", "outside"):
        owner = scene.owner(scope)
        photo = store_photo(scene.member(owner), upload("JPEG", "evidence.jpg"))
        scene.ids[scope] = {
            "event": scene.fresh_event(scope),
            "photo": photo.id,
            "claim": scene.fresh_claim(owner, photo.id),
            "voucher": scene.fresh_voucher(owner, scope),
            "wish": scene.fresh_wish(scope),
            "route": scene.fresh_route(scope),
        }
    for scope in ("inside", "outside"):  # last month's notice of each side's community, with an entry
        scene.ids[scope]["entry"] = settled_last_month(scene, scope)
        scene.ids[scope]["notice"] = notices.publish_notice(
            admin, world.units["community_a" if scope == "inside" else "community_b"], last_month()
        ).id
        scene.ids[scope]["objection"] = scene.fresh_objection(scope)
    scene.ids["inside"]["flag"] = favouring_flag(scene)
    close_month(last_month())
    for town in ("town_a", "town_b"):
        set_budget(admin, world.units[town], BUDGET_YEAR, 10_000_000)
    scene.event_code(scene.ids["inside"]["event"])  # makes the QR signing key before any call
    return scene


def snapshot() -> dict[str, list]:
    """Every row of every table, to show that a refused call wrote nothing."""
    db.session.rollback()
    rows = {}
    for table in db.metadata.sorted_tables:
        rows[table.name] = sorted(tuple(map(repr, row)) for row in db.session.execute(sa.select(table)))
    return rows
