"""Every page of every package, swept: security headers, no inline script or style, CSRF on every form.

The sweep reads the URL map, so a page added later is covered without touching this file.
"""

import re
from urllib.parse import urlsplit

import pytest
from werkzeug.routing import Rule

from tests.support.pages import INLINE_SCRIPT, signed_in
from tests.support.scene import build_scene

SKIPPED_PREFIXES = ("/api/", "/static/", "/metrics", "/healthz", "/lang/", "/logout")
#: Sample values for URL arguments, by converter: ids that exist in the world or not, either is fine
#: for the headers (a 404 page must carry them too).
SAMPLE_ARGUMENTS = {
    "IdConverter": "1",
    "IntegerConverter": "1",
    "UnicodeConverter": "X",
    "PathConverter": "x",
}
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+=\"", re.IGNORECASE)


def page_rules(app, method: str) -> list[Rule]:
    """The page routes (not the API, static files or probes) answering ``method``."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if method in rule.methods and not rule.rule.startswith(SKIPPED_PREFIXES) and rule.endpoint != "static"
    ]


def sample_url(rule: Rule) -> str:
    """The rule's URL with sample arguments."""
    arguments = {
        name: SAMPLE_ARGUMENTS.get(type(converter).__name__, "1")
        for name, converter in rule._converters.items()
    }
    return rule.build(arguments, append_unknown=False)[1]


def page_problems(url: str, response) -> list[str]:
    """What is wrong with one answered page: a 5xx, missing security headers, inline code."""
    if response.status_code >= 500:
        return [f"{url}: {response.status_code}"]
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    if "script-src 'self'" not in csp or "frame-ancestors 'none'" not in csp:
        problems.append(f"{url}: CSP {csp!r}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{url}: no nosniff")
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("inline style", INLINE_STYLE),
            ("inline handler", INLINE_HANDLER),
        ):
            if pattern.search(html):
                problems.append(f"{url}: {name}: {pattern.search(html).group(0)}")
    return problems


@pytest.mark.parametrize("who", ["global_admin", "resident", "clerk"])
def test_every_page_carries_the_security_headers_and_no_inline_code(app, world, who):
    browser = signed_in(app, world, who)
    rules = page_rules(app, "GET")
    assert len(rules) > 20
    problems = []
    for rule in rules:
        url = sample_url(rule)
        problems += page_problems(url, browser.get(url))
    assert not problems, "\n".join(problems)


def test_the_wish_and_patrol_pages_of_real_objects_carry_the_headers_and_no_inline_code(app):
    with app.app_context():
        scene = build_scene()
        inside = scene.ids["inside"]
        wishes = [inside["wish"], scene.fresh_wish("inside", "taken"), scene.fresh_wish("inside", "done", 4)]
        checkpoint = urlsplit(scene.checkpoint_code(inside["route"])).path
    pages = {
        "villager": ["/wishes", "/wishes/new", "/me/wishes", *[f"/wishes/{wish}" for wish in wishes]],
        "neighbour": [*[f"/wishes/{wish}" for wish in wishes], checkpoint],
        "grid_worker": ["/wishes/vet", "/"],
        "organiser": [
            "/admin/wishes",
            "/admin/patrols",
            "/admin/patrols/new",
            f"/admin/patrols/{inside['route']}",
            *[f"/admin/wishes/{wish}" for wish in wishes],
        ],
    }
    problems, seen = [], 0
    for who, urls in pages.items():
        browser = signed_in(app, scene.world, who)
        for url in urls:
            response = browser.get(url)
            seen += response.status_code == 200
            problems += page_problems(url, response)
    assert seen == sum(map(len, pages.values())) and not problems, "\n".join(problems)


def test_every_form_post_needs_its_csrf_token(app, world):
    browser = signed_in(app, world, "global_admin")
    rules = page_rules(app, "POST")
    assert len(rules) > 5
    accepted = []
    for rule in rules:
        url = sample_url(rule)
        response = browser.post(url, data={"reason": "x"})
        if response.status_code != 400 or "表单已过期" not in response.get_data(as_text=True):
            accepted.append(f"{url}: {response.status_code}")
    assert not accepted, "form posts taken without a CSRF token:\n" + "\n".join(accepted)
