"""Draw the screenshots of docs/screens/ at 360 px: the resident's home, a catalogue, the clerk's stock.

Run ``.venv/bin/python -m tests.browser.screens [docs/screens]``: it builds the demo on a fresh
SQLite file, serves it on loopback and photographs the pages in Debian's Chromium.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.browser.conftest import CHROMIUM_ARGS, CHROMIUM_PATH
from tests.conftest import dispose, make_app, migrate_database

WIDTH = 360
#: (file, who signs in, path) — demo logins, password ``pingan2026``.
SHOTS = [("resident-home.png", "13800000005", "/"),
         ("catalogue.png", "13800000005", "/shops/1"),
         ("clerk-stock.png", "13800000004", "/counter/stock")]


def build_demo(app) -> None:
    """The demo data of ``make run``, and an event coming up in the resident's town."""
    from core.database import utcnow
    from core.identity.demo import DEMO_PASSWORD, seed_identity_demo
    from core.identity.models import Member, OrgUnit
    from points import events
    from points.demo import seed_points_demo
    from rewards.demo import seed_rewards_demo

    assert DEMO_PASSWORD
    with app.app_context():
        from core.extensions import db

        for seed in (seed_identity_demo, seed_points_demo, seed_rewards_demo):
            seed()
        organiser = db.session.scalar(sa.select(Member).where(Member.phone == "13800000002"))
        town = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.name == "城关镇"))
        start = utcnow() + timedelta(days=1)
        events.create_event(organiser, "周末治安巡逻", "night_patrol", town.id, start, start + timedelta(hours=3))


def take(directory: Path) -> list[Path]:
    """Serve the demo and photograph each page of ``SHOTS`` into ``directory``."""
    from playwright.sync_api import sync_playwright

    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/screens.db"
        migrate_database(url)
        app = make_app(url)
        build_demo(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        written = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
                for filename, phone, path in SHOTS:
                    context = browser.new_context(locale="zh-CN", viewport={"width": WIDTH, "height": 740},
                                                  device_scale_factor=1, is_mobile=True, has_touch=True)
                    page = context.new_page()
                    page.goto(base + "/login")
                    page.get_by_label("手机号").fill(phone)
                    page.get_by_label("密码").fill("pingan2026")
                    page.get_by_role("button", name="登录").click()
                    page.wait_for_load_state()
                    page.goto(base + path)
                    target = directory / filename
                    page.screenshot(path=str(target))  # one phone screen, as a resident sees it first
                    written.append(target)
                    context.close()
                browser.close()
        finally:
            server.shutdown()
            dispose(app)
    return written


if __name__ == "__main__":
    for written_path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screens")):
        print(written_path)
