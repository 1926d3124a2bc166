"""Words for the codes the console shows: audit actions and subjects, stock movements, the
columns of a roll. A code with no entry here is shown as it is (a newer action, say)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STOCK_MOVEMENT_NAMES = {
    "received": _l("Received"),
    "reserved": _l("Reserved for a voucher"),
    "released": _l("Released from a voucher"),
    "handed_over": _l("Handed over"),
    "corrected": _l("Stocktake correction"),
}

AUDIT_ACTION_NAMES = {
    "member.create": _l("Member created"),
    "member.update": _l("Member changed"),
    "member.import": _l("Members imported"),
    "member.activate": _l("Account activated"),
    "member.activation_code": _l("Activation code issued again"),
    "member.reset_password": _l("Password reset"),
    "member.change_password": _l("Password changed"),
    "role.grant": _l("Role granted"),
    "role.revoke": _l("Role revoked"),
    "org_unit.create": _l("Org unit created"),
    "org_unit.update": _l("Org unit changed"),
    "supermarket.create": _l("Supermarket opened"),
    "supermarket.update": _l("Supermarket changed"),
    "activity.create": _l("Activity created"),
    "activity.update": _l("Activity changed"),
    "contribution.record": _l("Contribution recorded"),
    "contribution.claim": _l("Points claimed"),
    "contribution.approve": _l("Claim approved"),
    "contribution.reject": _l("Claim rejected"),
    "contribution.reverse": _l("Contribution reversed"),
    "event.create": _l("Event created"),
    "event.close": _l("Event closed"),
    "event.check_in": _l("Checked in at an event"),
    "event.check_out": _l("Checked out of an event"),
    "checkin.daily": _l("Daily check-in"),
    "balance.open": _l("Opening balance"),
    "reward.create": _l("Reward created"),
    "reward.update": _l("Reward changed"),
    "reward.image.set": _l("Reward picture set"),
    "reward.image.delete": _l("Reward picture removed"),
    "stock.receive": _l("Stock received"),
    "stock.correct": _l("Stocktake correction"),
    "voucher.reserve": _l("Voucher reserved"),
    "voucher.fulfil": _l("Voucher handed over"),
    "voucher.cancel": _l("Voucher cancelled"),
    "voucher.expire": _l("Voucher expired"),
    "gamification.rebuild": _l("Badges rebuilt"),
    "wish.post": _l("Wish posted"),
    "wish.vet": _l("Wish vetted"),
    "wish.publish": _l("Wish published"),
    "wish.take": _l("Wish taken"),
    "wish.release": _l("Wish open again"),
    "wish.done": _l("Wish done"),
    "wish.confirm": _l("Wish confirmed"),
    "wish.cancel": _l("Wish cancelled"),
    "patrol.route_create": _l("Patrol route drawn"),
    "patrol.scan": _l("Patrol checkpoint scanned"),
}

SUBJECT_NAMES = {
    "member": _l("Member"),
    "org_unit": _l("Org unit"),
    "role_grant": _l("Role"),
    "supermarket": _l("Supermarket"),
    "activity": _l("Activity"),
    "contribution": _l("Contribution"),
    "event": _l("Event"),
    "checkin": _l("Check-in"),
    "daily_checkin": _l("Daily check-in"),
    "reward": _l("Reward"),
    "stock_movement": _l("Stock movement"),
    "voucher": _l("Voucher"),
    "wish": _l("Micro-wish"),
    "patrol_route": _l("Patrol route"),
    "patrol_round": _l("Patrol round"),
    "system": _l("System"),
}

#: The roll's columns as its header names them in Chinese (the file's own language).
IMPORT_COLUMN_NAMES = {"name": "姓名", "phone": "手机号", "grid": "网格", "opening_balance": "期初积分"}
