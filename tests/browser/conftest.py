"""A live server on loopback and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import dispose, make_app, unavailable

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A phone set to Chinese: the context options of every tab the pages are first made for.
PHONE = {"locale": "zh-CN", "viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def console_errors(tab) -> list[str]:
    """The list the tab's console errors (CSP refusals, script errors, missing assets) gather in."""
    errors = []
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def new_tab(context, timeout: int = 10_000):
    """A new tab of ``context`` that waits up to ``timeout`` milliseconds for what it is asked."""
    tab = context.new_page()
    tab.set_default_timeout(timeout)
    return tab


@contextmanager
def live_database(tmp_path):
    """An app context on the database a ``serve`` of ``tmp_path`` served, to read what it wrote."""
    from core.extensions import db

    app = make_app(f"sqlite:///{tmp_path / 'live.db'}")
    with app.app_context():
        yield
        db.engine.dispose()


def pytest_collection_modifyitems(items):
    """Mark every test in this folder as a browser test."""
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for this worker."""
    if not Path(CHROMIUM_PATH).exists() and not shutil.which(CHROMIUM_PATH):
        unavailable(f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def serve(tmp_path, sqlite_template, prepare=None, with_app=False):
    """Serve the app over HTTP on 127.0.0.1 and a free port; yield its base URL and prepare's answer
    (and the app itself, ``with_app``)."""
    path = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    prepared = None
    if prepare is not None:
        with app.app_context():
            prepared = prepare()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        yield (base, prepared, app) if with_app else (base, prepared)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        dispose(app)


@pytest.fixture
def live_server(tmp_path, sqlite_template):
    """The app on an empty database, served on loopback; yields its base URL."""
    with serve(tmp_path, sqlite_template) as (url, _nothing):
        yield url


@pytest.fixture
def live_server_with_world(tmp_path, sqlite_template):
    """The app with the standard test world; yields the URL and a resident's phone and password."""
    from tests.factories import PASSWORD, build_world

    with serve(tmp_path, sqlite_template, build_world) as (url, world):
        yield url, world.phones["resident"], PASSWORD


@pytest.fixture
def page(browser):
    """A fresh browser tab, as on a phone set to Chinese."""
    context = browser.new_context(**PHONE)
    yield new_tab(context)
    context.close()


@pytest.fixture
def live_scene(tmp_path, sqlite_template):
    """The app with something of each kind in both towns (tests/support/scene.py); yields URL, scene, app."""
    from tests.support.scene import build_scene

    with serve(tmp_path, sqlite_template, build_scene, with_app=True) as served:
        yield served


def new_phone(browser, width: int = 390):
    """A fresh browser context as on a phone set to Chinese, ``width`` pixels wide."""
    return browser.new_context(
        locale="zh-CN", viewport={"width": width, "height": 780}, is_mobile=True, has_touch=True
    )


def sign_in(tab, base: str, phone: str, password: str) -> None:
    """Sign in through the sign-in page and wait for the home page."""
    tab.goto(base + "/login")
    tab.get_by_label("手机号").fill(phone)
    tab.get_by_label("密码").fill(password)
    tab.get_by_role("button", name="登录").click()
    tab.wait_for_url(lambda url: "/login" not in url)
