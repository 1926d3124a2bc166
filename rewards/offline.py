"""The counter without signal: the bundle a counter keeps, and the scans it sends back later.

A counter device keeps an **offline bundle** of its supermarket: the public keys that verify
voucher codes, the vouchers reserved there (each with the SHA-256 of its short code, never the
code), and the catalogue. Offline, it verifies a resident's code itself, hands the goods over
and queues the scan with a ``scan_id`` (a UUID it draws) and ``scanned_at``.

When signal returns the device sends its scans (``record_offline_fulfilments``); each scan is
settled once, in chunks of 50 to a transaction, and its result kept in ``offline_fulfilment``:

- the same ``scan_id`` again answers the kept result and writes nothing;
- the first scan of a voucher fulfils it (``fulfilled_at`` is when the goods were handed over,
  ``scanned_at``); a later, different scan of it is a ``conflict`` (``already_fulfilled``);
- a voucher cancelled or expired *after* it was scanned is still fulfilled when the member's
  points allow — held again, then spent, its units taken off the shelf again — otherwise a
  ``conflict`` (``insufficient_points``, or ``out_of_stock`` when the units were reserved by
  others meanwhile); one scanned after it was cancelled or had expired is a ``conflict`` too
  (``invalid_state``, ``expired``). Conflicts stay in the supermarket's list for an admin:
  goods handed over are never lost from the record;
- a code that does not verify (``invalid_code``), a voucher of another shop
  (``wrong_supermarket``), or a ``scanned_at`` in the future (beyond ``CLOCK_SKEW``) or more
  than 7 days old (``validation_error``) is ``rejected``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core.api import paginate
from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition
from core.identity.models import Member, OrgUnit, Supermarket
from core.identity.services import get_supermarket, mask_name
from core.qr.keys import public_keys
from points import ledger
from rewards import services
from rewards.models import OfflineFulfilment, Stock, Voucher, VoucherItem
from rewards.stock import lock_stock, move_voucher_stock
from rewards.vouchers import VOUCHER_STATE, code_arguments, voucher_from_code

MAX_BATCH = 500
#: Scans settled in one transaction: few commits for a large batch, locks held briefly.
CHUNK = 50
#: How old a scan may be when it arrives.
MAX_AGE = timedelta(days=7)
#: How far ahead of the server's clock a device's clock may run before its scans count as "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def short_code_sha256(short_code: str) -> str:
    """The SHA-256 (hex) of a short code as the bundle carries it: of its 8 upper-case characters."""
    return hashlib.sha256(short_code.encode("ascii")).hexdigest()


# --- the bundle --------------------------------------------------------------------------------


def offline_bundle(actor: Member, supermarket_id: int, now: datetime | None = None) -> dict:
    """What a counter needs to fulfil vouchers without signal (its clerks, admins in scope)."""
    now = now or utcnow()
    supermarket = get_supermarket(supermarket_id)
    require(actor, "voucher.handle", supermarket)
    rows = db.session.execute(
        sa.select(Voucher, Member.name)
        .join(Member, Member.id == Voucher.member_id)
        .options(selectinload(Voucher.items).joinedload(VoucherItem.reward))
        .where(
            Voucher.supermarket_id == supermarket.id, Voucher.status == "reserved", Voucher.expires_at > now
        )
        .order_by(Voucher.id)
    ).all()
    return {
        "generated_at": now,
        "supermarket": supermarket,
        "keys": [
            {"kid": key_id, "public_key": base64.b64encode(raw).decode("ascii")}
            for key_id, raw in public_keys()
        ],
        "vouchers": [
            {
                "id": voucher.id,
                "short_code_sha256": short_code_sha256(voucher.short_code),
                "points": voucher.points,
                "expires_at": voucher.expires_at,
                "member": {"display_name": mask_name(name)},
                "items": voucher.items,
            }
            for voucher, name in rows
        ],
        "catalogue": services.catalogue(supermarket.id),
    }


# --- the scans sent back -------------------------------------------------------------------------


def record_offline_fulfilments(
    actor: Member, supermarket_id: int, fulfilments: list[dict], now: datetime | None = None
) -> list[dict]:
    """Settle a counter's offline scans, each once; answer their results in the order sent."""
    now = now or utcnow()
    supermarket = get_supermarket(supermarket_id)
    require(actor, "voucher.handle", supermarket)
    if len(fulfilments) > MAX_BATCH:
        raise AppError(422, errors={"fulfilments": [f"at most {MAX_BATCH} in one request"]})
    settled = _kept_results(supermarket.id, {scan["scan_id"] for scan in fulfilments})
    db.session.rollback()  # the chunks below are transactions of their own
    waiting: dict[str, dict] = {}
    for scan in fulfilments:  # each scan once, as first sent
        if scan["scan_id"] not in settled:
            waiting.setdefault(scan["scan_id"], scan)
    waiting = list(waiting.values())
    for start in range(0, len(waiting), CHUNK):
        settled.update(_settle_chunk(actor, supermarket, waiting[start : start + CHUNK], now))
    return [{"scan_id": scan["scan_id"], **settled[scan["scan_id"]]} for scan in fulfilments]


def _kept_results(supermarket_id: int, scan_ids) -> dict[str, dict]:
    """The results already kept for some of these scans, by scan id."""
    if not scan_ids:
        return {}
    rows = db.session.execute(
        sa.select(OfflineFulfilment.scan_id, OfflineFulfilment.result, OfflineFulfilment.reason).where(
            OfflineFulfilment.supermarket_id == supermarket_id,
            OfflineFulfilment.scan_id.in_(sorted(scan_ids)),
        )
    )
    return {scan_id: {"result": result, "reason": reason} for scan_id, result, reason in rows}


def _refusal(scan: dict, supermarket: Supermarket, now: datetime) -> tuple[Voucher | None, str | None]:
    """Check what needs no lock: the time, the code, the shop. Answer the voucher, or the reason to reject."""
    scanned_at = scan["scanned_at"]
    if scanned_at > now + CLOCK_SKEW or scanned_at < now - MAX_AGE:
        return None, "validation_error"
    try:
        voucher = voucher_from_code(**code_arguments(scan["code"]))
    except AppError:
        return None, "invalid_code"
    if voucher.id != scan["voucher_id"]:
        return None, "invalid_code"
    if voucher.supermarket_id != supermarket.id:
        return voucher, "wrong_supermarket"
    return voucher, None


def _settle_chunk(
    actor: Member, supermarket: Supermarket, scans: list[dict], now: datetime
) -> dict[str, dict]:
    """Settle some scans in one transaction and keep their results; answer them by scan id.

    Every stock row and balance the chunk's vouchers touch is locked first, in the package's
    order (stock rows by reward, then balances by member, then each voucher), so a chunk never
    deadlocks with another chunk or a counter's online work, and the same scans sent by another
    device wait here until this chunk has settled them, then answer what it kept.
    """
    checked = [(scan, *_refusal(scan, supermarket, now)) for scan in scans]
    accepted = {voucher.id: voucher for _scan, voucher, reason in checked if reason is None}
    begin_writing(db.session)
    stock = lock_stock(
        supermarket.id, {item.reward_id for voucher in accepted.values() for item in voucher.items}
    )
    if accepted:
        ledger.lock_balances(*{voucher.member_id for voucher in accepted.values()})
    kept = _kept_results(supermarket.id, {scan["scan_id"] for scan in scans})
    results = {}
    for scan, voucher, reason in checked:
        scan_id = scan["scan_id"]
        if scan_id in kept:  # settled by another request while we waited for the locks
            results[scan_id] = kept[scan_id]
            continue
        try:
            with db.session.begin_nested():
                if reason is None:
                    db.session.refresh(voucher, VOUCHER_STATE, with_for_update=True)
                    result, reason = _judge(actor, voucher, stock, scan)
                else:
                    result = "rejected"
                db.session.add(
                    OfflineFulfilment(
                        supermarket_id=supermarket.id,
                        scan_id=scan_id,
                        voucher_id=voucher.id if voucher else None,
                        clerk_id=actor.id,
                        scanned_at=scan["scanned_at"],
                        received_at=now,
                        result=result,
                        reason=reason,
                    )
                )
                db.session.flush()
        except IntegrityError:  # a rejected scan kept by another device at the same moment: theirs stands
            results[scan_id] = None
            continue
        results[scan_id] = {"result": result, "reason": reason}
    db.session.commit()
    raced = [scan_id for scan_id, result in results.items() if result is None]
    results.update(_kept_results(supermarket.id, raced))
    return results


def _judge(actor: Member, voucher: Voucher, stock: dict[int, Stock], scan: dict) -> tuple[str, str | None]:
    """Decide a scan of a locked voucher of this shop: fulfil it, or say why it is a conflict."""
    scanned_at = scan["scanned_at"]
    if voucher.status == "fulfilled":
        return "conflict", "already_fulfilled"
    if voucher.status == "reserved":
        if scanned_at > voucher.expires_at:
            return "conflict", "expired"
        ledger.spend(
            voucher.member_id,
            voucher.points,
            reference=f"voucher:{voucher.id}",
            actor_id=actor.id,
            memo="offline",
        )
        move_voucher_stock(stock, voucher, "hand_over", actor_id=actor.id, reason="offline")
        return _fulfilled(actor, voucher, scan, held_again=False)
    changed_at = voucher.cancelled_at if voucher.status == "cancelled" else voucher.expires_at
    if scanned_at >= changed_at:
        return "conflict", "invalid_state" if voucher.status == "cancelled" else "expired"
    if ledger.balance_of(voucher.member_id).available < voucher.points:
        return "conflict", "insufficient_points"
    if any(stock[item.reward_id].available < item.quantity for item in voucher.items):
        return "conflict", "out_of_stock"
    reference = f"voucher:{voucher.id}"
    ledger.hold(voucher.member_id, voucher.points, reference=reference, actor_id=actor.id, memo="offline")
    ledger.spend(voucher.member_id, voucher.points, reference=reference, actor_id=actor.id, memo="offline")
    move_voucher_stock(stock, voucher, "hand_over_unreserved", actor_id=actor.id, reason="offline")
    return _fulfilled(actor, voucher, scan, held_again=True)


def _fulfilled(actor: Member, voucher: Voucher, scan: dict, *, held_again: bool) -> tuple[str, None]:
    before = voucher.status
    voucher.status = "fulfilled"
    voucher.fulfilled_at, voucher.fulfilled_by_id = scan["scanned_at"], actor.id
    record_audit(
        actor,
        "voucher.fulfil_offline",
        voucher,
        before={"status": before},
        after={
            "status": "fulfilled",
            "points": voucher.points,
            "scan_id": scan["scan_id"],
            "scanned_at": scan["scanned_at"].isoformat(),
            "held_again": held_again,
        },
    )
    return "fulfilled", None


# --- conflicts, for admins -------------------------------------------------------------------------


def list_offline_conflicts(
    actor: Member,
    supermarket_id: int | None = None,
    *,
    resolved: bool = False,
    page: int = 1,
    page_size: int = 20,
) -> dict:
    """Offline scans that ended in a conflict at the supermarkets in the admin's scope, newest first."""
    statement = (
        sa.select(OfflineFulfilment)
        .join(Supermarket, Supermarket.id == OfflineFulfilment.supermarket_id)
        .join(OrgUnit, OrgUnit.id == Supermarket.org_unit_id)
        .where(OfflineFulfilment.result == "conflict", scope_condition(actor, "supermarket.manage"))
        .options(selectinload(OfflineFulfilment.voucher).selectinload(Voucher.member))
    )
    if supermarket_id is not None:
        require(actor, "supermarket.manage", get_supermarket(supermarket_id))
        statement = statement.where(OfflineFulfilment.supermarket_id == supermarket_id)
    statement = statement.where(
        OfflineFulfilment.resolved_at.is_not(None) if resolved else OfflineFulfilment.resolved_at.is_(None)
    )
    return paginate(statement.order_by(OfflineFulfilment.id.desc()), page, page_size)


def resolve_offline_conflict(actor: Member, conflict_id: int, note: str) -> OfflineFulfilment:
    """Mark a conflict settled by an admin in scope, with what was done about it (audited)."""
    row = db.session.get(OfflineFulfilment, conflict_id)
    if row is None or row.result != "conflict":
        raise AppError(404, errors={"conflict_id": ["no such conflict"]})
    require(actor, "supermarket.manage", get_supermarket(row.supermarket_id))
    if not note or not note.strip():
        raise AppError(422, errors={"note": ["say what was done about it"]})
    begin_writing(db.session)
    db.session.refresh(row, with_for_update=True)
    if row.resolved_at is not None:
        raise AppError(409, "invalid_state", _l("This conflict is already resolved."))
    row.resolved_at, row.resolved_by_id, row.resolution = utcnow(), actor.id, note.strip()
    record_audit(
        actor,
        "voucher.offline_conflict_resolve",
        row,
        reason=note.strip(),
        after={"voucher_id": row.voucher_id, "reason": row.reason},
    )
    db.session.commit()
    return row
