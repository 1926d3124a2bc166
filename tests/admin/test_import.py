"""Bulk import of a village roll: the dry run lists every bad row, the import is all or nothing."""

from __future__ import annotations

import io
from collections import Counter

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from admin.services.roll_import import MAX_ROWS, check_file, import_roll, read_roll
from core.audit import AuditEntry
from core.errors import AppError
from core.extensions import db
from core.identity import roll as roll_module
from core.identity.models import ActivationCode, Member
from points import ledger
from points.ledger import verify_ledger
from points.models import LedgerTransaction, MemberBalance
from tests.factories import next_phone
from tests.points.test_ledger_concurrency import run_at_once
from tests.rewards.conftest import person

HEADER = ["姓名", "手机号", "网格", "期初积分"]
GRID_A = "城关镇/东街社区/东街一网格"


def csv_bytes(rows, header=HEADER, encoding="utf-8") -> bytes:
    """A CSV file of ``rows`` under ``header`` (joined plainly: the tests choose what cells hold)."""
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows, header=HEADER) -> bytes:
    """An XLSX workbook of ``rows`` under ``header``; text starting with = is stored as a formula."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def counts() -> dict:
    """Rows an import writes: what a refused import must leave as they were."""
    db.session.rollback()
    return {
        name: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for name, model in (
            ("members", Member),
            ("codes", ActivationCode),
            ("transactions", LedgerTransaction),
            ("audit", AuditEntry),
        )
    }


def problems_of(actor, filename: str, data: bytes) -> set[tuple[int, str]]:
    """The (line, column) of every problem the dry run finds."""
    return {
        (line, column) for line, column, _message in check_file(actor, read_roll(filename, data)).problems
    }


def test_the_dry_run_lists_every_bad_row_and_why_and_writes_nothing(app, world):
    with app.app_context():
        organiser = person(world, "organiser")
        before = counts()
        rows = [
            ["王五", "13812345678", GRID_A, ""],  # 2: good
            ["赵六", "1381234567", GRID_A, ""],  # 3: phone too short
            ["", "13812345679", GRID_A, ""],  # 4: no name
            ["孙七", "13812345680", "城关镇/东街社区/没有这个网格", ""],  # 5: unknown grid
            ["周八", "13812345681", "河口一网格", ""],  # 6: town B: outside the area
            ["吴九", "13812345678", "东街二网格", ""],  # 7: phone again (line 2)
            ["郑十", world.phones["resident"], GRID_A, ""],  # 8: already registered
            ["冯一", "13812345682", GRID_A, "-5"],  # 9: negative balance
            ["陈二", "13812345683", GRID_A, "1.5"],  # 10: not a whole number
            ['=HYPERLINK("x")', "13812345684", GRID_A, ""],  # 11: a formula
            ["褚三", "@SUM(1)", GRID_A, ""],  # 12: a formula
            ["卫四", "13812345685", "东街一网格", ""],  # 13: good (the grid's last name)
        ]
        checked = check_file(organiser, read_roll("roll.csv", csv_bytes(rows)))
        found = {(line, column) for line, column, _message in checked.problems}
        assert found == {
            (3, "phone"),
            (4, "name"),
            (5, "grid"),
            (6, "grid"),
            (7, "phone"),
            (8, "phone"),
            (9, "opening_balance"),
            (10, "opening_balance"),
            (11, "name"),
            (12, "phone"),
        }
        messages = {(line, column): str(message) for line, column, message in checked.problems}
        assert "1381234567" not in messages[(3, "phone")]
        assert messages[(7, "phone")] == "同一文件第 2 行已有此手机号"
        assert [member["line"] for member in checked.members] == [2, 13]
        assert counts() == before


def test_wrong_or_missing_columns_are_named_and_no_row_is_read(app, world):
    with app.app_context():
        organiser = person(world, "organiser")
        found = problems_of(
            organiser,
            "roll.csv",
            csv_bytes([["王五", "13812345678", GRID_A]], header=["name", "phon", "grid"]),
        )
        assert found == {(1, "phon"), (1, "phone")}


def test_an_empty_file_and_a_header_alone_are_refused(app, world):
    with app.app_context():
        organiser = person(world, "organiser")
        for data in (b"", b"\r\n\r\n", "\ufeff".encode()):
            roll = read_roll("roll.csv", data)
            assert [(line, str(message)) for line, _column, message in roll.problems] == [(0, "文件是空的。")]
        assert problems_of(organiser, "roll.csv", csv_bytes([])) == {(0, "")}
        assert problems_of(organiser, "empty.xlsx", xlsx_bytes([], header=[])) == {(0, "")}


def test_more_than_20000_rows_are_refused_with_a_message_to_split_the_file(app, world):
    with app.app_context():
        rows = [["居民", f"139{index:08d}", GRID_A, ""] for index in range(MAX_ROWS + 1)]
        roll = read_roll("big.csv", csv_bytes(rows))
        assert roll.rows == []
        assert len(roll.problems) == 1 and "拆分" in str(roll.problems[0][2])
        assert len(read_roll("ok.csv", csv_bytes(rows[:MAX_ROWS])).rows) == MAX_ROWS


def test_a_gbk_csv_as_excel_in_china_writes_it_is_read(app, world):
    with app.app_context():
        organiser = person(world, "organiser")
        data = csv_bytes([["欧阳娜娜", "13812345678", GRID_A, ""]], encoding="gbk")
        data.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        checked = check_file(organiser, read_roll("名单.csv", data))
        assert checked.problems == []
        assert checked.members[0]["name"] == "欧阳娜娜"
        bom = check_file(
            organiser,
            read_roll("roll.csv", "\ufeff".encode() + csv_bytes([["李雷", "13812345679", GRID_A, ""]])),
        )
        assert bom.problems == [] and bom.members[0]["name"] == "李雷"


def test_an_xlsx_formula_is_refused_not_evaluated_and_number_cells_read_as_typed(app, world):
    with app.app_context():
        organiser = person(world, "organiser")
        data = xlsx_bytes(
            [
                ["王五", 13812345678, GRID_A, None],
                ["赵六", "=13812345600+79", GRID_A, None],
                ["孙七", "13812345680", world.units["grid_a2"], 0],
            ]
        )
        checked = check_file(organiser, read_roll("roll.xlsx", data))
        assert [(line, column) for line, column, _message in checked.problems] == [(3, "phone")]
        assert "公式" in str(checked.problems[0][2])
        assert [(member["phone"], member["org_unit_id"]) for member in checked.members] == [
            ("13812345678", world.units["grid_a"]),
            ("13812345680", world.units["grid_a2"]),
        ]


def test_a_file_that_is_not_a_workbook_is_refused(app, world):
    with app.app_context():
        assert problems_of(person(world, "organiser"), "roll.xlsx", b"PK\x03\x04 not really a zip") == {
            (0, "")
        }
        assert problems_of(person(world, "organiser"), "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") == {
            (0, "")
        }


def test_one_bad_row_imports_nothing(app, world):
    with app.app_context():
        before = counts()
        data = csv_bytes([["王五", "13812345678", GRID_A, ""], ["赵六", "12345", GRID_A, ""]])
        checked, slips, _expires = import_roll(person(world, "organiser"), read_roll("roll.csv", data))
        assert [(line, column) for line, column, _message in checked.problems] == [(3, "phone")]
        assert slips == []
        assert counts() == before


def test_a_database_refusal_at_the_members_leaves_nothing_half_imported(app, world, monkeypatch):
    """A phone registered between the check and the insert: the database refuses the fifth row."""
    monkeypatch.setattr(roll_module, "_registered_phones", lambda phones: set())
    with app.app_context():
        before = counts()
        rows = [[f"居民{index}", f"1381234{index:04d}", GRID_A, 10] for index in range(4)]
        rows.append(["重复", world.phones["resident"], GRID_A, 10])
        with pytest.raises(AppError) as refused:
            import_roll(person(world, "admin"), read_roll("roll.csv", csv_bytes(rows)))
        assert refused.value.status == 409 and refused.value.code == "duplicate"
        assert counts() == before
        assert verify_ledger() == []


def test_a_database_refusal_after_the_balances_leaves_nothing_half_imported(app, world, monkeypatch):
    """Members, codes and opening balances are written when the database refuses: all of it goes."""
    post_balances = ledger.open_new_balances

    def then_refused(*args, **kwargs):
        made = post_balances(*args, **kwargs)
        db.session.execute(
            sa.insert(MemberBalance.__table__),
            [{"member_id": world.people["resident"], "available": -1, "held": 0, "lifetime_earned": 0}],
        )
        return made

    monkeypatch.setattr(ledger, "open_new_balances", then_refused)
    with app.app_context():
        before = counts()
        rows = [[f"居民{index}", f"1381234{index:04d}", GRID_A, 10] for index in range(5)]
        with pytest.raises(AppError) as refused:
            import_roll(person(world, "admin"), read_roll("roll.csv", csv_bytes(rows)))
        assert refused.value.status == 409
        assert counts() == before
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MemberBalance)) == 0
        assert verify_ledger() == []


def test_an_import_creates_members_without_passwords_codes_balances_and_audit(app, world):
    with app.app_context():
        admin = person(world, "admin")
        before = counts()
        rows = [
            ["王五", "13812345678", GRID_A, 120],
            ["赵六", "13812345679", "东街二网格", ""],
            ["孙七", "13812345680", GRID_A, 0],
        ]
        checked, slips, expires_at = import_roll(admin, read_roll("roll.csv", csv_bytes(rows)))
        assert checked.problems == []
        assert [(slip["name"], slip["phone"], slip["grid"]) for slip in slips] == [
            ("王五", "138****5678", GRID_A),
            ("赵六", "138****5679", "城关镇/东街社区/东街二网格"),
            ("孙七", "138****5680", GRID_A),
        ]
        assert all(len(slip["code"]) == 8 for slip in slips)
        after = counts()
        assert after["members"] == before["members"] + 3
        assert after["codes"] == before["codes"] + 3
        assert after["transactions"] == before["transactions"] + 1
        members = {
            member.phone: member
            for member in db.session.scalars(
                sa.select(Member).where(Member.phone.in_(["13812345678", "13812345679", "13812345680"]))
            )
        }
        assert all(member.password_hash is None for member in members.values())
        assert members["13812345679"].org_unit_id == world.units["grid_a2"]
        stored = db.session.scalars(sa.select(ActivationCode.code_hash)).all()
        assert not any(slip["code"] in value for slip in slips for value in stored)
        balance = db.session.get(MemberBalance, members["13812345678"].id)
        assert (balance.available, balance.held, balance.lifetime_earned) == (120, 0, 0)
        opening = db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.kind == "opening"))
        assert opening.actor_id == admin.id and opening.member_id == members["13812345678"].id
        assert sorted((p.account, p.amount) for p in opening.postings) == [
            ("available", 120),
            ("opening", -120),
        ]
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)
        ).all()
        assert sorted(actions) == ["balance.open", "member.import"]
        assert verify_ledger() == []


def test_only_administrators_carry_opening_balances_over(app, world):
    with app.app_context():
        data = csv_bytes([["王五", "13812345678", GRID_A, 50], ["赵六", "13812345679", GRID_A, 0]])
        assert problems_of(person(world, "organiser"), "roll.csv", data) == {(2, "opening_balance")}
        assert problems_of(person(world, "admin"), "roll.csv", data) == set()


def test_an_organiser_of_one_town_cannot_import_into_another(app, world):
    with app.app_context():
        data = csv_bytes(
            [
                ["王五", "13812345678", "河口镇/河口村/河口一网格", ""],
                ["赵六", "13812345679", str(world.units["grid_b"]), ""],
            ]
        )
        checked, slips, _expires = import_roll(person(world, "organiser"), read_roll("roll.csv", data))
        assert {(line, column) for line, column, _message in checked.problems} == {(2, "grid"), (3, "grid")}
        assert slips == []
        assert {str(message) for _line, _column, message in checked.problems} == {"不在您的管辖范围内"}
        global_checked = check_file(person(world, "global_admin"), read_roll("roll.csv", data))
        assert global_checked.problems == []


@settings(max_examples=15, deadline=None)
@given(balances=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12))
def test_opening_balances_land_exactly_in_the_ledger(app, world, balances):
    with app.app_context():
        phones = [next_phone() for _ in balances]
        before_available = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(MemberBalance.available), 0))
        )
        rows = [
            [f"居民{index}", phone, GRID_A, points]
            for index, (phone, points) in enumerate(zip(phones, balances))
        ]
        checked, slips, _expires = import_roll(
            person(world, "global_admin"), read_roll("roll.csv", csv_bytes(rows))
        )
        assert checked.problems == [] and len(slips) == len(balances)
        available = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(MemberBalance.available), 0)))
        assert available - before_available == sum(balances)
        for phone, points in zip(phones, balances):
            member_id = db.session.scalar(sa.select(Member.id).where(Member.phone == phone))
            balance = db.session.get(MemberBalance, member_id)
            assert (balance.available if balance else 0) == points
        assert verify_ledger() == []


def test_two_imports_of_one_roll_at_once_import_it_once(app, world):
    """Two organisers confirm the same roll at the same moment: one imports it, the other is refused whole."""
    rows = [[f"居民{index}", f"1381234{index:04d}", GRID_A, ""] for index in range(50)]
    data = csv_bytes(rows)
    imported = []

    def confirm(who):
        def job():
            checked, slips, _expires = import_roll(person(world, who), read_roll("roll.csv", data))
            imported.append(len(slips) or {str(message) for _line, _column, message in checked.problems})

        return job

    outcomes = run_at_once(app, [confirm("organiser"), confirm("admin")])
    assert outcomes in (Counter(ok=2), Counter(ok=1, duplicate=1)), outcomes
    assert sorted(imported, key=str) in ([50, {"已注册"}], [50])
    with app.app_context():
        phones = [row[1] for row in rows]
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(Member.phone.in_(phones)))
            == 50
        )
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ActivationCode)) == 50
