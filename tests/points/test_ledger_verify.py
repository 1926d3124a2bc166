"""``flask ledger verify``: clean on a real ledger, loud and non-zero on any mismatch."""

from datetime import timedelta

import sqlalchemy as sa

from core.database import begin_writing, utcnow
from core.extensions import db
from points import ledger
from points.models import LedgerPosting, MemberBalance


def fill_ledger(app, world):
    with app.app_context():
        begin_writing(db.session)
        member = world.people["resident"]
        ledger.open_new_balances({member: 5}, actor_id=None, memo="纸质台账结转")
        award = ledger.award(member, 30, occurred_at=utcnow() - timedelta(hours=1), actor_id=None)
        ledger.hold(member, 10, reference="voucher:1", actor_id=None)
        ledger.spend(member, 10, reference="voucher:1", actor_id=None)
        ledger.reverse_award(award, actor_id=None, reason="x", force=True)
        db.session.commit()


def test_verify_is_clean_after_every_kind_of_movement(app, world, runner):
    fill_ledger(app, world)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "ledger ok: 5 transactions" in result.output
    with app.app_context():
        balance = db.session.get(MemberBalance, world.people["resident"])
        assert (balance.available, balance.held, balance.lifetime_earned) == (0, 0, 0)


def test_verify_names_a_cached_balance_that_disagrees_with_its_postings(app, world, runner):
    fill_ledger(app, world)
    with app.app_context():
        db.session.execute(sa.update(MemberBalance).values(available=99))
        db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert f"member {world.people['resident']} available is 99, postings say 0" in result.output


def test_verify_names_a_transaction_that_does_not_sum_to_zero(app, world, runner):
    fill_ledger(app, world)
    with app.app_context():
        posting = db.session.scalars(
            sa.select(LedgerPosting).where(LedgerPosting.account == "redeemed")
        ).one()
        db.session.execute(sa.update(LedgerPosting).where(LedgerPosting.id == posting.id).values(amount=11))
        db.session.commit()
        transaction_id = posting.transaction_id
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert f"transaction {transaction_id} postings sum to 1, not 0" in result.output
