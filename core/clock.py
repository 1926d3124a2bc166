"""The service's calendar: Asia/Shanghai days, weeks, months, quarters and years.

Points count in the Shanghai day, week (Monday first), month, quarter and year of the moment
they were earned: daily caps, leaderboards, monthly limits, honour rolls and reports all ask
this module, so they agree at every edge (midnight in Shanghai is 16:00 UTC).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.database import utcnow
from core.errors import AppError

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The periods a point counts in, shortest first ("all": all time).
PERIODS = ("week", "month", "quarter", "year", "all")
#: How a month is named in paths, forms and files.
MONTH_FORMAT = "%Y-%m"


def shanghai_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of a moment."""
    return moment.astimezone(SHANGHAI).date()


def shanghai_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (as of ``now``, default the current time)."""
    return shanghai_date(now or utcnow())


def period_key(period: str, day: date) -> str:
    """Name the period of kind ``period`` that contains the Asia/Shanghai date ``day``."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == "year":
        return str(day.year)
    return "all"


def period_bounds(period: str, day: date) -> tuple[datetime | None, datetime | None]:
    """Return the start and end (exclusive, Asia/Shanghai) of the period containing ``day``.

    ``period`` is one of ``day`` and ``PERIODS``; all time has no bounds (None, None).
    """
    if period == "all":
        return None, None
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "year":
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    else:
        months = 1 if period == "month" else 3
        first = day.month if period == "month" else (day.month - 1) // 3 * 3 + 1
        start = date(day.year, first, 1)
        following = first - 1 + months
        end = date(day.year + following // 12, following % 12 + 1, 1)
    return (
        datetime.combine(start, time.min, tzinfo=SHANGHAI),
        datetime.combine(end, time.min, tzinfo=SHANGHAI),
    )


def bounds_of(period: str, moment: datetime) -> tuple[datetime | None, datetime | None]:
    """The start and end of the Asia/Shanghai period (day, week, month…) containing ``moment``."""
    return period_bounds(period, shanghai_date(moment))


def period_keys(moment: datetime) -> list[str]:
    """Name every period (week … all time) that a point earned at ``moment`` counts in."""
    day = shanghai_date(moment)
    return [period_key(period, day) for period in PERIODS]


def month_index(moment: datetime) -> int:
    """The Asia/Shanghai month of a moment as year × 12 + month − 1 (consecutive months differ by 1)."""
    local = moment.astimezone(SHANGHAI)
    return local.year * 12 + local.month - 1


# --- working days ---------------------------------------------------------------------------------


def is_working_day(
    day: date, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()
) -> bool:
    """Tell whether ``day`` is a working day: Monday to Friday unless a public holiday, or a weekend
    day declared a working day (调休: the day a holiday is made up for)."""
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    day: date, count: int, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()
) -> date:
    """The ``count``-th working day after ``day`` (``day`` itself not counted; ``count`` ≥ 1)."""
    if count < 1:
        raise ValueError("count working days from 1")
    while count:
        day += timedelta(days=1)
        count -= is_working_day(day, holidays, workdays)
    return day


def end_of_day(day: date) -> datetime:
    """The moment an Asia/Shanghai day ends (the next day's midnight there)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def months_before(moment: datetime, months: int) -> datetime:
    """The same Asia/Shanghai wall-clock time ``months`` calendar months earlier (the day clamped to
    the end of a shorter month: three months before 31 May is 28 or 29 February)."""
    local = moment.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def parse_month(month: str, field: str = "month") -> date:
    """Read "YYYY-MM" as the first day of that month, or refuse with 422."""
    try:
        return datetime.strptime(month, MONTH_FORMAT).date()
    except (TypeError, ValueError):
        raise AppError(422, errors={field: ["give the month as YYYY-MM"]}) from None


def last_month(now: datetime | None = None) -> str:
    """Name the Asia/Shanghai month before the current one."""
    start, _end = bounds_of("month", now or utcnow())
    return bounds_of("month", start - timedelta(days=1))[0].strftime(MONTH_FORMAT)
