"""The fairness watch: patterns in how points were given that an organiser should look at.

``scan`` (``flask fairness scan``, nightly by cron, or the console's button for admins) looks at
the last ``FAIRNESS_WINDOW_DAYS`` days and at this month and the last, and flags:

- ``favoured_members``: a recorder who gave most of the points they recorded for others to the
  same few members (``FAIRNESS_FAVOURED_FEW`` of them holding ``FAIRNESS_FAVOURED_SHARE`` of the
  points, each ``FAIRNESS_FAVOURED_RATIO`` times the median of the others they recorded for);
- ``odd_hours``: awards timed in ``FAIRNESS_ODD_HOURS`` (Asia/Shanghai) — the work's time, or the
  moment staff recorded it — per approver and day (``FAIRNESS_NIGHT_CATEGORIES``, patrols by
  default, are done at night and left out);
- ``burst``: ``FAIRNESS_BURST_AWARDS`` or more awards one recorder recorded for others within
  ``FAIRNESS_BURST_MINUTES``;
- ``quick_approvals``: a reviewer who approved claims within ``FAIRNESS_QUICK_SECONDS`` of their
  submission ``FAIRNESS_QUICK_TIMES`` times or more;
- ``grid_outlier``: a grid whose points per resident in a month are over ``FAIRNESS_GRID_RATIO``
  times the median of its sibling grids (figured as the org-unit board does: eligible members);
- ``member_outlier``: a member whose month is over ``FAIRNESS_MEMBER_FACTOR`` times the 99th
  percentile of their county (among at least ``FAIRNESS_MEMBER_MIN_RANKED`` ranked members).

Each flag says what, whom and the evidence rows, and is ``open`` until an organiser in scope
(never its subject) dismisses it or says what was done (``acted``), with a reason. A later scan
that finds the same thing again (same rule, whom and period: the fingerprint) refreshes an open
flag's figures and leaves a decided one alone. Flags and decisions are audited. Nothing else is
changed: reversing points stays a person's decision.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import AuditEntry, record_audit
from core.clock import SHANGHAI, period_bounds, period_key, shanghai_date
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import can, require_somewhere, scope_units
from core.identity.models import Member, OrgUnit, on_boards
from core.refusals import require_found, require_status
from points.leaderboards.boards import Board
from points.models import Activity, Contribution, FairnessFlag, LeaderboardTotal

#: The most evidence rows a flag keeps.
EVIDENCE_ROWS = 100
RULES = ("favoured_members", "odd_hours", "burst", "quick_approvals", "grid_outlier", "member_outlier")

RULE_NAMES = {
    "favoured_members": _l("The same few members favoured"),
    "odd_hours": _l("Awards at impossible hours"),
    "burst": _l("A burst of awards"),
    "quick_approvals": _l("Claims approved within seconds"),
    "grid_outlier": _l("A grid far above its siblings"),
    "member_outlier": _l("A member far above the county"),
}
SUMMARIES = {
    "favoured_members": _l(
        "%(whom)s gave %(share)s%% of the %(total)s points they recorded for others in "
        "%(days)s days to %(few)s members; the others they recorded for got %(median)s "
        "points each (median)."
    ),
    "odd_hours": _l("%(count)s awards approved by %(whom)s on %(day)s were timed between %(hours)s."),
    "burst": _l("%(whom)s recorded %(count)s awards within %(minutes)s minutes from %(start)s."),
    "quick_approvals": _l(
        "%(whom)s approved %(count)s claims within %(seconds)s seconds of their submission in %(days)s days."
    ),
    "grid_outlier": _l(
        "%(whom)s earned %(per_capita)s points per resident in %(month)s: %(ratio)s times the "
        "median of its sibling grids (%(median)s)."
    ),
    "member_outlier": _l(
        "%(whom)s earned %(points)s points in %(month)s: %(ratio)s times the 99th percentile "
        "of %(county)s (%(p99)s)."
    ),
}
STATUS_NAMES = {"open": _l("Open"), "dismissed": _l("Dismissed"), "acted": _l("Acted on")}


def setting(name: str):
    """A fairness setting (declared in ``core.config.SETTINGS``) from the app's config."""
    return current_app.config[name]


def odd_minutes() -> tuple[int, int]:
    """``FAIRNESS_ODD_HOURS`` ("HH:MM-HH:MM", may cross midnight) as minutes of the day."""
    start, _dash, end = str(setting("FAIRNESS_ODD_HOURS")).partition("-")
    try:
        return tuple(int(part[:2]) * 60 + int(part[3:5]) for part in (start.strip(), end.strip()))
    except ValueError:
        raise ValueError(
            f"FAIRNESS_ODD_HOURS must look like 01:00-05:00, not {setting('FAIRNESS_ODD_HOURS')!r}"
        ) from None


def _minute_of_day(moment: datetime) -> int:
    """The minute of the Asia/Shanghai day (UTC+8 all year round: no daylight saving)."""
    return int((moment.timestamp() + 8 * 3600) // 60 % 1440)


def _inside(minute: int, window: tuple[int, int]) -> bool:
    start, end = window
    return start <= minute < end if start <= end else minute >= start or minute < end


@dataclass
class Finding:
    """One pattern found: what (rule), whom, the figures and the rows behind them."""

    rule: str
    fingerprint: str
    member_id: int | None
    org_unit_id: int | None
    facts: dict
    evidence: list[dict] = field(default_factory=list)
    #: The members the finding concerns (default: those of the evidence): where they live decides
    #: who sees the flag.
    involved: set[int] = field(default_factory=set)


# --- the rules ----------------------------------------------------------------------------------

_WINDOW_ROWS = (
    sa.select(
        Contribution.id,
        Contribution.member_id,
        Contribution.recorded_by_id,
        Contribution.reviewed_by_id,
        Contribution.points,
        Contribution.occurred_at,
        Contribution.created_at,
        Activity.category,
    )
    .join(Activity, Activity.id == Contribution.activity_id)
    .where(
        Contribution.status == "approved",
        Contribution.created_at >= sa.bindparam("since"),
        Contribution.created_at < sa.bindparam("until"),
    )
    .order_by(Contribution.recorded_by_id, Contribution.created_at, Contribution.id)
)


def _window_rows(since: datetime, until: datetime):
    """The approved contributions recorded in the window, grouped by recorder, oldest first."""
    return db.session.execute(
        _WINDOW_ROWS.execution_options(yield_per=5000), {"since": since, "until": until}
    )


def _local(moment: datetime) -> str:
    """A moment as evidence shows it: ISO 8601 in Asia/Shanghai time."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _contribution_row(row) -> dict:
    return {
        "contribution_id": row.id,
        "member_id": row.member_id,
        "points": row.points,
        "occurred_at": _local(row.occurred_at),
        "recorded_at": _local(row.created_at),
    }


def _favoured(recorder_id: int, rows: list, days: int, month: str) -> Finding | None:
    """The favoured-members rule over one recorder's awards to others."""
    if len(rows) < setting("FAIRNESS_FAVOURED_MIN_AWARDS"):
        return None
    few = setting("FAIRNESS_FAVOURED_FEW")
    points = defaultdict(int)
    for row in rows:
        points[row.member_id] += row.points
    ranked = sorted(points.items(), key=lambda item: (-item[1], item[0]))
    favoured, others = ranked[:few], [value for _member, value in ranked[few:]]
    if len(others) < few:
        return None  # too few others to compare with
    total = sum(points.values())
    median = statistics.median(others)
    share = sum(value for _member, value in favoured) / total
    if (
        share < setting("FAIRNESS_FAVOURED_SHARE")
        or min(value for _member, value in favoured) < setting("FAIRNESS_FAVOURED_RATIO") * median
    ):
        return None
    chosen = {member for member, _value in favoured}
    evidence = [_contribution_row(row) for row in rows if row.member_id in chosen][-EVIDENCE_ROWS:]
    return Finding(
        "favoured_members",
        f"favoured_members:{recorder_id}:{month}",
        recorder_id,
        None,
        {
            "share": round(share * 100),
            "total": total,
            "few": len(favoured),
            "median": median,
            "days": days,
            "favoured": [{"member_id": member, "points": value} for member, value in favoured],
        },
        evidence,
        set(points),
    )


def _bursts(recorder_id: int, rows: list) -> list[Finding]:
    """The burst rule over one recorder's awards to others, oldest first."""
    size, span = setting("FAIRNESS_BURST_AWARDS"), timedelta(minutes=setting("FAIRNESS_BURST_MINUTES"))
    findings, recent, start = [], deque(), None
    for index, row in enumerate(rows):
        recent.append(index)
        while row.created_at - rows[recent[0]].created_at > span:
            recent.popleft()
        if len(recent) >= size and start is None:
            start = recent[0]
        if start is not None and (
            index + 1 == len(rows) or rows[index + 1].created_at - row.created_at > span
        ):
            burst = rows[start : index + 1]
            findings.append(
                Finding(
                    "burst",
                    f"burst:{recorder_id}:{burst[0].id}",
                    recorder_id,
                    None,
                    {
                        "count": len(burst),
                        "minutes": setting("FAIRNESS_BURST_MINUTES"),
                        "start_at": _local(burst[0].created_at),
                        "end_at": _local(burst[-1].created_at),
                    },
                    [_contribution_row(each) for each in burst[:EVIDENCE_ROWS]],
                )
            )
            start, recent = None, deque()
    return findings


def recorder_findings(since: datetime, until: datetime) -> tuple[list[Finding], list[Finding]]:
    """One pass over the window's awards: favoured members and bursts per recorder (awards staff
    recorded for others), and awards at odd hours per approver and day."""
    days = (until - since).days
    month = period_key("month", shanghai_date(until))
    window, night = odd_minutes(), set(setting("FAIRNESS_NIGHT_CATEGORIES"))
    findings, odd = [], defaultdict(list)
    current, rows = None, []

    def close(recorder_id, rows):
        if recorder_id is not None and rows:
            favoured = _favoured(recorder_id, rows, days, month)
            findings.extend(([favoured] if favoured else []) + _bursts(recorder_id, rows))

    for row in _window_rows(since, until):
        for_others = row.recorded_by_id != row.member_id
        if row.recorded_by_id != current:
            close(current, rows)
            current, rows = row.recorded_by_id, []
        if for_others:
            rows.append(row)
        if row.category not in night and (
            _inside(_minute_of_day(row.occurred_at), window)
            or (for_others and _inside(_minute_of_day(row.created_at), window))
        ):
            approver = row.reviewed_by_id or row.member_id
            odd[(approver, shanghai_date(row.created_at))].append(row)
    close(current, rows)
    hours = setting("FAIRNESS_ODD_HOURS")
    odd_findings = [
        Finding(
            "odd_hours",
            f"odd_hours:{approver}:{day.isoformat()}",
            approver,
            None,
            {"count": len(rows), "day": day.isoformat(), "hours": hours},
            [_contribution_row(row) for row in rows[:EVIDENCE_ROWS]],
        )
        for (approver, day), rows in sorted(odd.items())
    ]
    return findings, odd_findings


def quick_approvals(since: datetime, until: datetime) -> list[Finding]:
    """Reviewers who approved claims within seconds of their submission, again and again (read
    from the audit log's approvals, so awards approved at once by a rule are not counted)."""
    seconds, times = setting("FAIRNESS_QUICK_SECONDS"), setting("FAIRNESS_QUICK_TIMES")
    rows = db.session.execute(
        sa.select(
            AuditEntry.actor_id,
            AuditEntry.at,
            Contribution.id,
            Contribution.member_id,
            Contribution.points,
            Contribution.occurred_at,
            Contribution.created_at,
        )
        .join(Contribution, Contribution.id == AuditEntry.subject_id)
        .where(
            AuditEntry.action == "contribution.approve",
            AuditEntry.subject_type == "contribution",
            AuditEntry.at >= since,
            AuditEntry.at < until,
        )
        .order_by(AuditEntry.actor_id, AuditEntry.at)
    )
    quick = defaultdict(list)
    for row in rows:
        waited = (row.at - row.created_at).total_seconds()
        if row.actor_id is not None and waited < seconds:
            quick[row.actor_id].append(
                {
                    "contribution_id": row.id,
                    "member_id": row.member_id,
                    "points": row.points,
                    "recorded_at": _local(row.created_at),
                    "approved_at": _local(row.at),
                    "seconds": round(waited, 1),
                }
            )
    month = period_key("month", shanghai_date(until))
    return [
        Finding(
            "quick_approvals",
            f"quick_approvals:{reviewer}:{month}",
            reviewer,
            None,
            {"count": len(found), "seconds": seconds, "days": (until - since).days},
            found[-EVIDENCE_ROWS:],
        )
        for reviewer, found in sorted(quick.items())
        if len(found) >= times
    ]


def grid_figures(key: str) -> dict[int, tuple[int, int]]:
    """Points earned in a period (``key``) and residents of every grid that has residents, by grid id:
    the org-unit board's figures (eligible members only), for all grids in two grouped reads."""
    residents = dict(
        db.session.execute(
            sa.select(Member.org_unit_id, sa.func.count())
            .where(on_boards(), Member.org_unit_id.is_not(None))
            .group_by(Member.org_unit_id)
        ).all()
    )
    points = dict(
        db.session.execute(
            sa.select(Member.org_unit_id, sa.func.sum(LeaderboardTotal.score))
            .join(Member, Member.id == LeaderboardTotal.member_id)
            .where(LeaderboardTotal.period_key == key, LeaderboardTotal.eligible == sa.true())
            .group_by(Member.org_unit_id)
        ).all()
    )
    return {unit_id: (int(points.get(unit_id) or 0), count) for unit_id, count in residents.items()}


def grid_outliers(day) -> list[Finding]:
    """Grids whose points per resident in the month of ``day`` are far above their sibling grids'."""
    ratio = setting("FAIRNESS_GRID_RATIO")
    month = period_key("month", day)
    figures = grid_figures(month)
    families = defaultdict(list)
    for unit_id, name, parent_id in db.session.execute(
        sa.select(OrgUnit.id, OrgUnit.name, OrgUnit.parent_id)
        .where(OrgUnit.kind == "grid")
        .order_by(OrgUnit.id)
    ):
        points, residents = figures.get(unit_id, (0, 0))
        families[parent_id].append(
            {
                "id": unit_id,
                "grid": name,
                "points": points,
                "residents": residents,
                "per_capita": round(points / residents, 2) if residents else 0.0,
            }
        )
    findings = []
    for grids in families.values():
        for grid in grids:
            others = [other["per_capita"] for other in grids if other is not grid]
            if not others or not grid["residents"]:
                continue
            median = statistics.median(others)
            if median > 0 and grid["per_capita"] > ratio * median:
                findings.append(
                    Finding(
                        "grid_outlier",
                        f"grid_outlier:{grid['id']}:{month}",
                        None,
                        grid["id"],
                        {
                            "month": month,
                            "per_capita": grid["per_capita"],
                            "median": round(median, 2),
                            "ratio": round(grid["per_capita"] / median, 1),
                            "grid": grid["grid"],
                        },
                        [{key: value for key, value in other.items() if key != "id"} for other in grids][
                            :EVIDENCE_ROWS
                        ],
                    )
                )
    return findings


def member_outliers(day) -> list[Finding]:
    """Members whose month (of ``day``) is far above their county's 99th percentile."""
    factor, least = setting("FAIRNESS_MEMBER_FACTOR"), setting("FAIRNESS_MEMBER_MIN_RANKED")
    month = period_key("month", day)
    start, end = period_bounds("month", day)
    findings = []
    for county in db.session.scalars(
        sa.select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)
    ):
        scope = Board(county, month)
        ranked = scope.count()
        if ranked < least:
            continue
        top = scope.top(math.ceil(ranked / 100))
        p99 = top[-1].score
        for row in top:
            if p99 <= 0 or row.score <= factor * p99:
                break
            rows = db.session.execute(
                sa.select(
                    Contribution.id,
                    Contribution.member_id,
                    Contribution.points,
                    Contribution.occurred_at,
                    Contribution.created_at,
                )
                .where(
                    Contribution.member_id == row.member_id,
                    Contribution.status == "approved",
                    Contribution.occurred_at >= start,
                    Contribution.occurred_at < end,
                )
                .order_by(Contribution.points.desc(), Contribution.id)
                .limit(EVIDENCE_ROWS)
            )
            findings.append(
                Finding(
                    "member_outlier",
                    f"member_outlier:{row.member_id}:{month}",
                    row.member_id,
                    None,
                    {
                        "month": month,
                        "points": row.score,
                        "p99": p99,
                        "ratio": round(row.score / p99, 1),
                        "county": county.name,
                        "ranked": ranked,
                    },
                    [_contribution_row(each) for each in rows],
                )
            )
    return findings


def find_patterns(now: datetime | None = None) -> list[Finding]:
    """Every rule's findings as of ``now`` (reads only)."""
    now = now or utcnow()
    since = now - timedelta(days=setting("FAIRNESS_WINDOW_DAYS"))
    recorded, odd = recorder_findings(since, now)
    today = shanghai_date(now)
    months = [today, period_bounds("month", today)[0].date() - timedelta(days=1)]  # this month and the last
    return [
        *recorded,
        *odd,
        *quick_approvals(since, now),
        *[finding for day in months for finding in grid_outliers(day)],
        *[finding for day in months for finding in member_outliers(day)],
    ]


# --- keeping the flags --------------------------------------------------------------------------


def _common_unit(member_ids: set[int]) -> int | None:
    """The lowest org unit whose subtree holds every one of these members' grids (None: none)."""
    paths = [
        path
        for path in db.session.scalars(
            sa.select(OrgUnit.path)
            .join(Member, Member.org_unit_id == OrgUnit.id)
            .where(Member.id.in_(member_ids))
        )
    ]
    if not paths:
        return None
    parts = [path.strip("/").split("/") for path in paths]
    common = []
    for column in zip(*parts):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return int(common[-1]) if common else None


def _dress(finding: Finding) -> None:
    """Add names to the finding's evidence and figures, and the unit whose subtree it concerns."""
    ids = {row["member_id"] for row in finding.evidence if "member_id" in row}
    ids |= {row["member_id"] for row in finding.facts.get("favoured", [])}
    if finding.member_id is not None:
        ids.add(finding.member_id)
    names = (
        dict(db.session.execute(sa.select(Member.id, Member.name).where(Member.id.in_(ids))).all())
        if ids
        else {}
    )
    for row in [*finding.evidence, *finding.facts.get("favoured", [])]:
        if "member_id" in row:
            row["member"] = names.get(row["member_id"], "?")
    if finding.member_id is not None:
        finding.facts["whom"] = names.get(finding.member_id, "?")
        involved = finding.involved or {row["member_id"] for row in finding.evidence if "member_id" in row}
        finding.org_unit_id = _common_unit(involved or {finding.member_id})
    else:
        finding.facts["whom"] = finding.facts.get("grid", "?")


def scan(actor: Member | None = None, now: datetime | None = None) -> dict:
    """Run every rule and keep what it found as flags; answer how many were found, new, refreshed."""
    now = now or utcnow()
    findings = find_patterns(now)
    for finding in findings:
        _dress(finding)
    begin_writing(db.session)
    known = (
        {
            flag.fingerprint: flag
            for flag in db.session.scalars(
                sa.select(FairnessFlag).where(
                    FairnessFlag.fingerprint.in_([finding.fingerprint for finding in findings])
                )
            )
        }
        if findings
        else {}
    )
    counts = {"found": len(findings), "new": 0, "refreshed": 0}
    for finding in findings:
        flag = known.get(finding.fingerprint)
        if flag is None:
            flag = FairnessFlag(
                rule=finding.rule,
                fingerprint=finding.fingerprint,
                member_id=finding.member_id,
                org_unit_id=finding.org_unit_id,
                facts=finding.facts,
                evidence=finding.evidence,
                status="open",
                created_at=now,
                seen_at=now,
            )
            db.session.add(flag)
            record_audit(actor, "fairness.flag", flag, after={"rule": flag.rule, "facts": flag.facts})
            counts["new"] += 1
        elif flag.status == "open":
            flag.facts, flag.evidence, flag.seen_at = finding.facts, finding.evidence, now
            counts["refreshed"] += 1
    record_audit(actor, "fairness.scan", None, after=counts)
    db.session.commit()
    return counts


def run_scan(actor: Member) -> dict:
    """Run the watch now, at an admin's request (the console's button)."""
    require_somewhere(actor, "fairness.scan")
    return scan(actor)


# --- reading and deciding ------------------------------------------------------------------------


def _visible(actor: Member):
    """A condition on flags the actor may see: in their scope, and never about themself."""
    units = scope_units(actor, "fairness.review")
    if units == []:
        raise AppError(403)
    mine = sa.or_(FairnessFlag.member_id.is_(None), FairnessFlag.member_id != actor.id)
    if units is None:
        return mine
    return sa.and_(mine, sa.or_(*[OrgUnit.path.startswith(unit.path) for unit in units]))


def list_flags(actor: Member, status: str | None = "open", page: int = 1, page_size: int = 20) -> dict:
    """The flags the actor may review, newest first."""
    statement = (
        sa.select(FairnessFlag)
        .outerjoin(OrgUnit, OrgUnit.id == FairnessFlag.org_unit_id)
        .where(_visible(actor))
        .order_by(FairnessFlag.id.desc())
    )
    if status is not None:
        statement = statement.where(FairnessFlag.status == status)
    return paginate(statement, page, page_size)


def get_flag(actor: Member, flag_id: int) -> FairnessFlag:
    """A flag the actor may review (404 when there is none, 403 when out of their reach)."""
    flag = require_found(db.session.get(FairnessFlag, flag_id), "flag_id", "flag")
    if not can(actor, "fairness.review", flag.org_unit):
        raise AppError(403)
    if flag.member_id == actor.id:
        raise AppError(403, "self_review", _l("This flag is about you: someone else reviews it."))
    return flag


def decide_flag(actor: Member, flag_id: int, decision: str, reason: str) -> FairnessFlag:
    """Dismiss a flag, or record what was done about it (``act``), with a reason."""
    if decision not in ("dismiss", "act"):
        raise ValueError(decision)
    if not (reason or "").strip():
        raise AppError(422, errors={"reason": ["say why"]})
    flag = get_flag(actor, flag_id)
    begin_writing(db.session)
    flag = db.session.scalar(
        sa.select(FairnessFlag)
        .where(FairnessFlag.id == flag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    require_status(flag, "open", _l("This flag has already been decided."))
    flag.status = "dismissed" if decision == "dismiss" else "acted"
    flag.reason, flag.decided_by_id, flag.decided_at = reason, actor.id, utcnow()
    record_audit(actor, f"fairness.{decision}", flag, reason=reason, after={"status": flag.status})
    db.session.commit()
    return flag


def summary(flag: FairnessFlag) -> str:
    """What the flag found, in the reader's language."""
    facts = dict(flag.facts or {})
    if "start_at" in facts:
        facts["start"] = facts["start_at"][:16].replace("T", " ")
    try:
        return str(SUMMARIES[flag.rule]) % facts
    except (KeyError, TypeError, ValueError):
        return str(RULE_NAMES.get(flag.rule, flag.rule))
