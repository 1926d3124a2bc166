"""The audit log viewer: filters, pagination, scope, and the CSV export Excel reads."""

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.audit import iter_audit_pages
from rewards import stock
from tests.rewards.conftest import person
from tests.support.pages import signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Entries the console fixture writes: 3 claims, 2 events, 2 rewards, 3 stock receipts.
EVERY = 10


def rows(html):
    return re.findall(r"<code>([a-z_.]+)</code>", html)


def exported(body: bytes) -> list[dict]:
    """The entries of a CSV export, after checking that it ends with the line saying it is complete."""
    table = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[-1]["id"] == f"# end of export: {len(table) - 1} entries", table[-1]
    return table[:-1]


def test_filters_by_action_actor_subject_and_dates(app, console):
    admin = signed_in(app, console, "global_admin")
    claims = rows(admin.get("/admin/audit?action=contribution.").get_data(as_text=True))
    assert claims == ["contribution.claim"] * 3
    by_actor = admin.get("/admin/audit?who=张居民").get_data(as_text=True)
    assert rows(by_actor) == ["contribution.claim"] and "张居民" in by_actor
    by_phone = rows(admin.get(f"/admin/audit?who={console.phones['villager']}").get_data(as_text=True))
    assert by_phone == ["contribution.claim"]
    subject = admin.get(f"/admin/audit?subject_type=contribution&subject_id={console.claims['outsider']}")
    assert rows(subject.get_data(as_text=True)) == ["contribution.claim"]
    today = datetime.now(SHANGHAI).date()
    assert len(rows(admin.get(f"/admin/audit?since={today}&until={today}").get_data(as_text=True))) == EVERY
    tomorrow = today + timedelta(days=1)
    assert rows(admin.get(f"/admin/audit?since={tomorrow}").get_data(as_text=True)) == []
    nonsense = admin.get("/admin/audit?since=yesterday&subject_id=x")
    assert nonsense.status_code == 200 and len(rows(nonsense.get_data(as_text=True))) == EVERY


def test_the_log_paginates_keeping_the_filters(app, console):
    with app.app_context():
        for _ in range(20):
            stock.receive_stock(person(console, "clerk"), console.shops["a"], console.rewards["soap"], 1)
    admin = signed_in(app, console, "global_admin")
    first = admin.get("/admin/audit?action=stock").get_data(as_text=True)
    assert rows(first) == ["stock.receive"] * 20
    assert 'href="/admin/audit?action=stock&amp;page=2" rel="next"' in first
    second = admin.get("/admin/audit?action=stock&page=2").get_data(as_text=True)
    assert rows(second) == ["stock.receive"] * 3


def test_a_town_administrator_reads_only_their_towns_entries(app, console):
    town_admin = signed_in(app, console, "admin").get("/admin/audit").get_data(as_text=True)
    assert "张居民" in town_admin and "孙外镇" not in town_admin
    assert rows(town_admin).count("contribution.claim") == 2
    assert "stock.receive" not in rows(town_admin)  # the county administrator's, at both shops
    assert signed_in(app, console, "organiser").get("/admin/audit").status_code == 403


def test_the_csv_export_streams_utf8_with_a_bom_and_honours_the_filters(app, console):
    admin = signed_in(app, console, "global_admin")
    response = admin.get("/admin/audit.csv?action=contribution.")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    table = exported(body)
    assert [row["action"] for row in table] == ["contribution.claim"] * 3
    assert {row["actor"] for row in table} == {"张居民", "钱村民", "孙外镇"}
    assert '"activity": "mediation"' in table[0]["after"]
    town = signed_in(app, console, "admin").get("/admin/audit.csv").get_data().decode("utf-8-sig")
    assert "孙外镇" not in town and "张居民" in town


def test_the_csv_keeps_text_that_excel_would_run_as_a_formula_as_text(app, console):
    with app.app_context():
        stock.correct_stock(
            person(console, "clerk"),
            console.shops["a"],
            console.rewards["soap"],
            9,
            '=HYPERLINK("http://evil.example","盘点")',
        )
    body = signed_in(app, console, "global_admin").get("/admin/audit.csv?action=stock.correct").get_data()
    [row] = exported(body)
    assert row["reason"] == '\'=HYPERLINK("http://evil.example","盘点")'


def test_the_export_reads_page_after_page_below_the_last_id_and_misses_none(app, console):
    with app.app_context():
        for _ in range(7):
            stock.receive_stock(person(console, "clerk"), console.shops["a"], console.rewards["soap"], 1)
        pages = list(iter_audit_pages(person(console, "global_admin"), page_size=3, action="stock"))
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    ids = [row.id for page in pages for row in page]
    assert ids == sorted(set(ids), reverse=True)
    body = signed_in(app, console, "global_admin").get("/admin/audit.csv?action=stock").get_data()
    assert [int(row["id"]) for row in exported(body)] == ids
