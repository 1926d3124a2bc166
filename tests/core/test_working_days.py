"""Working days (Mon–Fri, less public holidays, plus weekend days made working days), as a public
notice counts its five, across weekends, month ends, year ends and listed holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import SHANGHAI, add_working_days, end_of_day, is_working_day
from core.config import ConfigError, parse_dates

# The National Day week of 2026 as a county would list it: 1–7 October off, Saturday 10 October worked.
NATIONAL_DAY = frozenset(date(2026, 10, day) for day in range(1, 8))
MAKE_UP = frozenset({date(2026, 10, 10)})


def test_five_working_days_from_a_thursday_skip_the_weekend():
    assert add_working_days(date(2026, 12, 3), 5) == date(2026, 12, 10)


def test_five_working_days_from_a_friday_end_the_next_friday():
    assert add_working_days(date(2026, 12, 4), 5) == date(2026, 12, 11)


def test_a_saturday_or_sunday_start_counts_from_monday():
    assert add_working_days(date(2026, 12, 5), 1) == date(2026, 12, 7)
    assert add_working_days(date(2026, 12, 6), 5) == date(2026, 12, 11)


def test_the_count_runs_across_a_month_end_and_a_year_end():
    assert add_working_days(date(2026, 11, 27), 5) == date(2026, 12, 4)  # Friday 27 Nov → Friday 4 Dec
    assert add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 6)  # over New Year's weekend
    assert add_working_days(date(2027, 2, 26), 1) == date(2027, 3, 1)


def test_listed_holidays_are_skipped():
    new_year = frozenset({date(2027, 1, 1)})
    assert add_working_days(date(2026, 12, 30), 5, new_year) == date(2027, 1, 7)


def test_a_golden_week_and_its_make_up_saturday():
    # Published Wednesday 30 September: 1–7 October off; Thursday 8, Friday 9, Saturday 10 (made up),
    # Monday 12 and Tuesday 13 are the five.
    assert add_working_days(date(2026, 9, 30), 5, NATIONAL_DAY, MAKE_UP) == date(2026, 10, 13)
    assert add_working_days(date(2026, 9, 30), 5, NATIONAL_DAY) == date(2026, 10, 14)
    assert is_working_day(date(2026, 10, 10), NATIONAL_DAY, MAKE_UP)
    assert not is_working_day(date(2026, 10, 5), NATIONAL_DAY, MAKE_UP)


def test_a_day_ends_at_midnight_in_shanghai():
    assert end_of_day(date(2026, 12, 10)) == datetime(2026, 12, 10, 16, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 12, 10)).tzinfo == SHANGHAI


def test_counting_from_zero_is_refused():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 12, 3), 0)


@given(
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    count=st.integers(min_value=1, max_value=30),
    holidays=st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 3, 31)), max_size=40),
    workdays=st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 3, 31)), max_size=5),
)
def test_the_answer_is_the_count_th_working_day_counted_one_day_at_a_time(start, count, holidays, workdays):
    answer = add_working_days(start, count, holidays, workdays)
    assert is_working_day(answer, holidays, workdays)
    between = [start + timedelta(days=offset) for offset in range(1, (answer - start).days + 1)]
    assert sum(is_working_day(day, holidays, workdays) for day in between) == count


def test_holiday_settings_read_dates_and_refuse_nonsense():
    assert parse_dates("PUBLIC_HOLIDAYS", "2026-10-01, 2026-10-02,") == {date(2026, 10, 1), date(2026, 10, 2)}
    assert parse_dates("PUBLIC_HOLIDAYS", [date(2026, 10, 1), "2026-10-02"]) == {
        date(2026, 10, 1),
        date(2026, 10, 2),
    }
    assert parse_dates("PUBLIC_HOLIDAYS", None) == frozenset()
    with pytest.raises(ConfigError, match="PUBLIC_HOLIDAYS"):
        parse_dates("PUBLIC_HOLIDAYS", "2026-13-01")


def test_the_app_reads_the_holidays_and_the_notice_settings_from_the_environment(monkeypatch, tmp_path):
    from app import create_app
    from points.fairness import odd_minutes

    monkeypatch.setenv("PUBLIC_HOLIDAYS", "2027-01-01")
    monkeypatch.setenv("WORKING_WEEKENDS", "2027-01-09")
    for name, value in (
        ("NOTICE_WORKING_DAYS", "7"),
        ("OBJECTIONS_PER_DAY", "3"),
        ("NOTIFICATION_KEEP_DAYS", "90"),
        ("FAIRNESS_ODD_HOURS", "23:30-04:00"),
    ):
        monkeypatch.setenv(name, value)
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["PUBLIC_HOLIDAYS"] == {date(2027, 1, 1)}
    assert app.config["WORKING_WEEKENDS"] == {date(2027, 1, 9)}
    assert (
        app.config["NOTICE_WORKING_DAYS"],
        app.config["OBJECTIONS_PER_DAY"],
        app.config["NOTIFICATION_KEEP_DAYS"],
    ) == (7, 3, 90)
    with app.app_context():
        assert odd_minutes() == (23 * 60 + 30, 4 * 60)
