"""One pager for every paginated page (`core/templates/core/_pager.html`): the page count comes
from the listing, the links stay on the page shown (its path and its query string's filters: the console's member
search tests that), and
a list newest first says 较新/较早 where the others say 上一页/下一页."""

from __future__ import annotations

import re

from core.database import begin_writing
from core.extensions import db
from core.notifications import notify
from tests.support.pages import signed_in


def _links(page: str) -> dict[str, tuple[str, str]]:
    """The pager's links on a page: rel → (href, text)."""
    nav = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    assert nav, "the page shows no pager"
    found = re.findall(r'<a href="([^"]+)" rel="(prev|next)">([^<]+)</a>', nav.group(0))
    return {rel: (href.replace("&amp;", "&"), text) for href, rel, text in found}


def test_a_newest_first_list_pages_with_newer_and_older(app, world):
    resident = world.people["resident"]
    with app.app_context():
        begin_writing(db.session)
        for number in range(45):  # 20 a page: three pages
            notify(resident, "points_awarded", f"award:{number}", points=1)
        db.session.commit()
    browser = signed_in(app, world, "resident")
    first = browser.get("/me/notifications").get_data(as_text=True)
    assert "第 1 页，共 3 页" in first
    assert _links(first) == {"next": ("/me/notifications?page=2", "较早")}
    middle = browser.get("/me/notifications?page=2").get_data(as_text=True)
    assert _links(middle) == {
        "prev": ("/me/notifications?page=1", "较新"),
        "next": ("/me/notifications?page=3", "较早"),
    }
    last = browser.get("/me/notifications?page=3").get_data(as_text=True)
    assert "第 3 页，共 3 页" in last and set(_links(last)) == {"prev"}


def test_one_page_shows_no_pager(app, world):
    browser = signed_in(app, world, "resident")
    assert 'class="pager"' not in browser.get("/me/notifications").get_data(as_text=True)
