"""Acting on a member's account needs grants that reach above every grant the member holds:
nobody takes over an account that can do more than their own.

The attack: a town organiser resets the password of a member of their town who holds a county
admin grant, signs in with it, and acts as county admin.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.errors import AppError
from core.extensions import db
from core.identity import cards, services
from core.identity.access import outranks
from core.identity.activation import reissue_activation_code
from core.identity.models import Member, OrgUnit, RoleGrant, Supermarket
from tests.factories import PASSWORD, make_member, next_phone
from tests.rewards.conftest import person
from tests.support.pages import csrf_token, signed_in

NEW_PASSWORD = "taken over at last"


def holder(world, role: str, on: str | None, lives_in: str = "grid_a") -> Member:
    """A member living in a grid of town A who holds ``role`` on the unit (or shop) ``on``."""
    target = (
        None
        if on is None
        else (
            db.session.get(Supermarket, world.shops[on.removeprefix("shop_")])
            if on.startswith("shop_")
            else db.session.get(OrgUnit, world.units[on])
        )
    )
    return make_member("有职务", db.session.get(OrgUnit, world.units[lives_in]), role=role, on=target)


#: Every action on a member's account, as the services take it.
ACTIONS = {
    "reset the password": lambda actor, member: services.reset_password(actor, member, NEW_PASSWORD),
    "suspend": lambda actor, member: services.update_member(actor, member, {"status": "suspended"}),
    "give a new phone": lambda actor, member: services.update_member(actor, member, {"phone": next_phone()}),
    "rename": lambda actor, member: services.update_member(actor, member, {"name": "改名"}),
    "move": lambda actor, member: services.update_member(
        actor, member, {"org_unit_id": member.org_unit_id + 1}
    ),
    "re-issue the activation code": reissue_activation_code,
    "unlock sign-in": services.unlock_sign_in,
    "issue a card": cards.issue_card,
    "set the PIN": lambda actor, member: cards.set_pin(actor, member, "284615"),
}


def refused(action, actor, member) -> bool:
    try:
        action(actor, member)
    except AppError as error:
        db.session.rollback()
        assert error.status == 403 and error.code == "forbidden", error
        return True
    return False


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_town_organiser_cannot_act_on_a_member_of_their_town_who_is_a_county_admin(ctx, world, action):
    member = holder(world, "admin", "county")
    before = (member.password_hash, member.status, member.phone, member.name, member.org_unit_id)
    assert refused(ACTIONS[action], person(world, "organiser"), member)
    member = db.session.get(Member, member.id)
    assert (member.password_hash, member.status, member.phone, member.name, member.org_unit_id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_town_organiser_still_manages_residents_and_grid_workers_of_the_town(ctx, world, action):
    organiser = person(world, "organiser")
    assert not refused(
        ACTIONS[action], organiser, make_member("居民", db.session.get(OrgUnit, world.units["grid_a"]))
    )
    assert not refused(ACTIONS[action], organiser, holder(world, "grid_worker", "grid_a"))


@pytest.mark.parametrize(
    "actor, role, on, allowed",
    [
        ("organiser", "grid_worker", "town_a", True),  # a lower role on the organiser's own unit
        ("organiser", "organiser", "community_a", True),  # the same role strictly below
        ("organiser", "organiser", "town_a", False),  # the same role at the same level
        ("organiser", "admin", "grid_a", False),  # a higher role, however low its unit
        ("organiser", "clerk", "shop_a", False),  # clerks answer to administrators only
        ("admin", "organiser", "town_a", True),  # a town admin over the town's organisers
        ("admin", "admin", "community_a", True),
        ("admin", "admin", "town_a", False),
        ("admin", "clerk", "shop_a", True),  # an admin whose scope covers the shop
        ("admin", "clerk", "shop_b", False),
        ("admin", "grid_worker", "grid_b", False),  # a grant outside the actor's scope
        ("global_admin", "admin", "county", True),
        ("global_admin", "admin", None, False),  # another global admin: nobody is above them
    ],
)
def test_the_actor_must_reach_above_every_grant_of_the_target(ctx, world, actor, role, on, allowed):
    member = holder(world, role, on)
    assert outranks(person(world, actor), member) is allowed
    assert refused(ACTIONS["reset the password"], person(world, actor), member) is not allowed


def test_one_grant_out_of_reach_is_enough_to_refuse(ctx, world):
    member = holder(world, "grid_worker", "grid_a")
    db.session.add(RoleGrant(member=member, role="clerk", supermarket_id=world.shops["b"]))
    db.session.commit()
    db.session.expire(member, ["grants"])
    assert refused(ACTIONS["reset the password"], person(world, "organiser"), member)
    assert refused(ACTIONS["reset the password"], person(world, "admin"), member)
    assert not refused(ACTIONS["reset the password"], person(world, "global_admin"), member)


def test_hiding_a_member_obeys_the_target_rule_too(ctx, world):
    member = holder(world, "admin", "town_a")
    assert refused(
        lambda actor, target: services.update_member(actor, target, {"hidden": True}),
        person(world, "admin"),
        member,
    )


def test_the_api_refuses_the_takeover_and_says_why(client, world, app):
    with app.app_context():
        member_id, phone = (lambda m: (m.id, m.phone))(holder(world, "admin", "county"))
    response = client.post(
        f"/api/v1/members/{member_id}/password",
        json={"password": NEW_PASSWORD},
        headers=world.headers["organiser"],
    )
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert "同级或高于您" in response.get_json()["message"]  # "holds a role at or above yours"
    signed = client.post("/api/v1/auth/tokens", json={"phone": phone, "password": NEW_PASSWORD})
    assert signed.status_code == 401
    assert client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD}).status_code == 201


def test_the_console_refuses_the_takeover_page_and_form(app, world):
    with app.app_context():
        member_id = holder(world, "admin", "county").id
    browser = signed_in(app, world, "organiser")
    assert browser.get(f"/admin/members/{member_id}").status_code == 403
    page = browser.get(f"/admin/members/{world.people['resident']}")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    response = browser.post(
        f"/admin/members/{member_id}/password", data={"csrf_token": token, "password": NEW_PASSWORD}
    )
    assert response.status_code == 403
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "member.reset_password")
            )
            == 0
        )
