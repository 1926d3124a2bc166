"""Every page of every package, swept: security headers, no inline script or style, CSRF on every form.

The sweep reads the URL map, so a page added later is covered without touching this file.
"""

import re

import pytest
from werkzeug.routing import Rule

from tests.support.pages import INLINE_SCRIPT, signed_in

SKIPPED_PREFIXES = ("/api/", "/static/", "/metrics", "/healthz", "/lang/", "/logout")
#: Sample values for URL arguments, by converter: ids that exist in the world or not, either is fine
#: for the headers (a 404 page must carry them too).
SAMPLE_ARGUMENTS = {"IdConverter": "1", "IntegerConverter": "1", "UnicodeConverter": "X", "PathConverter": "x"}
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+=\"", re.IGNORECASE)


def page_rules(app, method: str) -> list[Rule]:
    """The page routes (not the API, static files or probes) answering ``method``."""
    return [rule for rule in app.url_map.iter_rules()
            if method in rule.methods and not rule.rule.startswith(SKIPPED_PREFIXES)
            and rule.endpoint != "static"]


def sample_url(rule: Rule) -> str:
    """The rule's URL with sample arguments."""
    arguments = {name: SAMPLE_ARGUMENTS.get(type(converter).__name__, "1")
                 for name, converter in rule._converters.items()}
    return rule.build(arguments, append_unknown=False)[1]


@pytest.mark.parametrize("who", ["global_admin", "resident", "clerk"])
def test_every_page_carries_the_security_headers_and_no_inline_code(app, world, who):
    browser = signed_in(app, world, who)
    rules = page_rules(app, "GET")
    assert len(rules) > 20
    problems = []
    for rule in rules:
        url = sample_url(rule)
        response = browser.get(url)
        if response.status_code >= 500:
            problems.append(f"{url}: {response.status_code}")
            continue
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        if "script-src 'self'" not in csp or "frame-ancestors 'none'" not in csp:
            problems.append(f"{url}: CSP {csp!r}")
        if headers.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{url}: no nosniff")
        if response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            for name, pattern in (("inline script", INLINE_SCRIPT), ("inline style", INLINE_STYLE),
                                  ("inline handler", INLINE_HANDLER)):
                if pattern.search(html):
                    problems.append(f"{url}: {name}: {pattern.search(html).group(0)}")
    assert not problems, "\n".join(problems)


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
