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
SHOTS = [
    ("resident-home.png", "13800000005", "/"),
    ("catalogue.png", "13800000005", "/shops/1"),
    ("clerk-stock.png", "13800000004", "/counter/stock"),
]


#: A colour for each demo reward's picture.
COLOURS = ("#f3d9a4", "#f2c1b6", "#cfe3c1", "#c6dcef", "#e2cfe9")


def picture_of(name: str, colour: str):
    """A simple square picture naming a reward, as an uploaded file."""
    import io

    from PIL import Image, ImageDraw
    from werkzeug.datastructures import FileStorage

    from core.fonts import cjk_font

    image = Image.new("RGB", (320, 320), colour)
    ImageDraw.Draw(image).text((160, 160), name[:2], font=cjk_font(120), fill="#5b3a1a", anchor="mm")
    data = io.BytesIO()
    image.save(data, "PNG")
    data.seek(0)
    return FileStorage(data, filename="reward.png", content_type="image/png")


def build_demo(app) -> None:
    """The demo data of ``make run`` with a picture for each reward, and an event coming up in town."""
    from core.database import utcnow
    from core.identity.demo import DEMO_PASSWORD, seed_identity_demo
    from core.identity.models import Member, OrgUnit
    from points import events
    from points.demo import seed_points_demo
    from rewards import images
    from rewards.demo import seed_rewards_demo
    from rewards.models import Reward

    assert DEMO_PASSWORD
    with app.app_context():
        from core.extensions import db

        for seed in (seed_identity_demo, seed_points_demo, seed_rewards_demo):
            seed()
        admin = db.session.scalar(sa.select(Member).where(Member.phone == "13800000001"))
        for reward, colour in zip(db.session.scalars(sa.select(Reward).order_by(Reward.id)), COLOURS):
            images.set_reward_image(admin, reward.id, picture_of(reward.name, colour))
        organiser = db.session.scalar(sa.select(Member).where(Member.phone == "13800000002"))
        town = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.name == "城关镇"))
        start = utcnow() + timedelta(days=1)
        events.create_event(
            organiser, "周末治安巡逻", "night_patrol", town.id, start, start + timedelta(hours=3)
        )


def shrink_png(path: Path) -> None:
    """Keep a screenshot small: 128 colours are plenty for flat pages and text."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128)
    small.save(path, "PNG", optimize=True)


def take(directory: Path, shots=SHOTS, width: int = WIDTH, full_page: bool = False) -> list[Path]:
    """Serve the demo and photograph each page of ``shots`` into ``directory``."""
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
                for filename, phone, path in shots:
                    context = browser.new_context(
                        locale="zh-CN",
                        viewport={"width": width, "height": 740},
                        device_scale_factor=1,
                        is_mobile=True,
                        has_touch=True,
                    )
                    page = context.new_page()
                    page.goto(base + "/login")
                    page.get_by_label("手机号").fill(phone)
                    page.get_by_label("密码").fill("pingan2026")
                    page.get_by_role("button", name="登录").click()
                    page.wait_for_load_state()
                    page.goto(base + path)
                    target = directory / filename
                    page.screenshot(
                        path=str(target), full_page=full_page
                    )  # a phone's first screen by default
                    shrink_png(target)
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
