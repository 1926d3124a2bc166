"""Two reviewers approve the same ticked claims at the same moment: each claim pays out once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from points import contributions
from points.ledger import verify_ledger
from points.models import Contribution, LedgerTransaction
from tests.factories import make_activity, make_member
from tests.points.test_ledger_concurrency import run_at_once
from tests.rewards.conftest import person

CLAIMS = 6


def test_concurrent_bulk_approvals_award_each_claim_exactly_once(app, world):
    with app.app_context():
        make_activity("mediation", points=20, category="mediation")
        grid = person(world, "resident").org_unit
        claimants = [make_member(f"居民{index}", grid) for index in range(CLAIMS)]
        claims = [
            contributions.record_contribution(
                member, member.id, "mediation", Decimal(1), utcnow() - timedelta(hours=1)
            ).id
            for member in claimants
        ]
        claimant_ids = [member.id for member in claimants]
    answers = {}

    def review(who, order):
        def job():
            outcomes = contributions.review_contributions(person(world, who), order, "approve")
            answers[who] = {
                claim: getattr(outcome, "code", "ok") if isinstance(outcome, AppError) else "ok"
                for claim, outcome in outcomes.items()
            }

        return job

    outcomes = run_at_once(app, [review("organiser", claims), review("grid_worker", claims[::-1])])
    assert outcomes == {"ok": 2}
    for claim in claims:
        results = sorted((answers["organiser"][claim], answers["grid_worker"][claim]))
        assert results == ["invalid_state", "ok"], (claim, results)
    with app.app_context():
        assert verify_ledger() == []
        approved = db.session.scalar(
            sa.select(sa.func.count()).select_from(Contribution).where(Contribution.status == "approved")
        )
        awards = db.session.scalars(
            sa.select(LedgerTransaction.member_id).where(LedgerTransaction.kind == "award")
        ).all()
        assert approved == CLAIMS and sorted(awards) == sorted(claimant_ids)
