"""Helpers for tests that record, claim and review contributions through the API, and read what
members are told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def hours_ago(hours: float = 1) -> str:
    """An ISO time with offset, this many hours before now."""
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def contribution_body(world, member, activity="publicity", quantity=1, occurred_at=None, **extra) -> dict:
    """The JSON body of POST /contributions for one of the world's members, an hour ago by default."""
    return {
        "member_id": world.people[member],
        "activity_code": activity,
        "quantity": quantity,
        "occurred_at": occurred_at or hours_ago(),
        **extra,
    }


def post_contribution(
    client, world, who, activity="publicity", quantity=1, member=None, occurred_at=None, headers=None, **extra
):
    """POST /contributions as ``who`` for ``member`` (themselves when none): a claim, or staff recording.

    ``headers`` are added to the actor's own (an ``Idempotency-Key``, say); ``extra`` joins the body.
    """
    body = contribution_body(world, member or who, activity, quantity, occurred_at, **extra)
    return client.post("/api/v1/contributions", json=body, headers={**world.headers[who], **(headers or {})})


def contribution_action(client, world, who, contribution_id, verb, **body):
    """POST /contributions/<id>/<verb> (approve, reject, reverse) as ``who``."""
    return client.post(
        f"/api/v1/contributions/{contribution_id}/{verb}", json=body or None, headers=world.headers[who]
    )


def available(client, world, who) -> int:
    """The member's available points, as /me tells them."""
    return client.get("/api/v1/me", headers=world.headers[who]).get_json()["balance"]["available"]


def notification_texts(client, world, who, language: str | None = None) -> list[str]:
    """The texts of the member's notifications, newest first, as /me/notifications tells them."""
    headers = {**world.headers[who], **({"Accept-Language": language} if language else {})}
    body = client.get("/api/v1/me/notifications?page_size=100", headers=headers).get_json()
    return [item["text"] for item in body["items"]]
