"""The offline counter: a page that installs as an app (manifest and service worker from this server),
keeps its supermarket's bundle, fulfils vouchers without signal and sends them when signal returns."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Response, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.identity.auth import current_member
from rewards.views import _counter_supermarkets, bp

#: Static files the installed counter keeps (besides its page, manifest and icons).
STATIC_ASSETS = ("css/app.css", "favicon.svg", "js/forms.js", "vendor/noble-ed25519/index.js")
#: qr-scanner's decoder (the script its worker runs), wrapped to run on the page's own thread.
QR_DECODER = "vendor/qr-scanner/qr-scanner-worker.js"
REWARDS_ASSETS = (
    "scanner.js",
    "offline-queue.js",
    "offline-counter.js",
    "icons/counter-192.png",
    "icons/counter-512.png",
)
#: Minutes between refreshes of the bundle while the counter has signal.
BUNDLE_REFRESH_MINUTES = 3


def cached_urls() -> list[str]:
    """Every URL the installed counter keeps, its own page first."""
    return (
        [
            url_for("rewards_pages.offline_counter"),
            url_for("rewards_pages.counter_manifest"),
            url_for("rewards_pages.counter_qr_decoder"),
        ]
        + [url_for("static", filename=name) for name in STATIC_ASSETS]
        + [url_for("rewards_pages.static", filename=name) for name in REWARDS_ASSETS]
    )


@lru_cache(maxsize=1)
def _assets_version(root: str) -> str:
    """A digest of the cached files and templates: a new version makes installed counters update."""
    digest = hashlib.sha256()
    base = Path(root)
    for path in (
        [base / "core/static" / name for name in (*STATIC_ASSETS, QR_DECODER)]
        + [base / "rewards/static" / name for name in REWARDS_ASSETS]
        + [base / "rewards/templates/rewards" / name for name in ("offline.html", "counter-sw.js")]
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@bp.get("/counter/offline")
@login_required
def offline_counter():
    """The counter that works without signal (install it as an app)."""
    actor = current_member()
    shops, shop = _counter_supermarkets(actor)
    if shop is None and shops:
        shop = shops[0]
    return render_template(
        "rewards/offline.html", shops=shops, shop=shop, refresh_minutes=BUNDLE_REFRESH_MINUTES
    )


@bp.get("/counter/manifest.webmanifest")
def counter_manifest():
    """The web app manifest of the offline counter."""
    manifest = {
        "name": _("Ping'an Points counter"),
        "short_name": _("Counter"),
        "start_url": url_for("rewards_pages.offline_counter"),
        "scope": "/counter/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "lang": "zh-CN",
        "icons": [
            {
                "src": url_for("rewards_pages.static", filename=f"icons/counter-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in (192, 512)
        ],
    }
    response = current_app.response_class(
        current_app.json.dumps(manifest), mimetype="application/manifest+json"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@lru_cache(maxsize=1)
def _wrapped_decoder(path: str) -> str:
    source = Path(path).read_text(encoding="utf-8")
    # The worker's code talks to ``self``: here a local object, so its names stay out of the page's.
    return (
        "// qr-scanner's decoder (the script its worker runs, unchanged) on the page's own thread.\n"
        'var PinganQrDecoder = (function () {\n"use strict";\n'
        "var answer = null;\nvar self = { postMessage: function (message) { answer = message; }, "
        "close: function () {} };\n"
        + source
        + '\nself.onmessage({ data: { id: -1, type: "inversionMode", data: "both" } });\n'
        "return { decode: function (image) { answer = null; "
        'self.onmessage({ data: { id: 0, type: "decode", data: image } }); '
        "return answer && answer.data || null; } };\n})();\n"
    )


@bp.get("/counter/qr-decoder.js")
def counter_qr_decoder():
    """The QR decoder of the offline counter: qr-scanner's worker code, run on the page's thread."""
    script = _wrapped_decoder(str(Path(current_app.root_path) / "core/static" / QR_DECODER))
    return Response(script, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@bp.get("/counter/sw.js")
def counter_service_worker():
    """The offline counter's service worker (its scope is /counter/); it names a version of its files."""
    script = render_template(
        "rewards/counter-sw.js",
        urls=cached_urls(),
        version=_assets_version(current_app.root_path),
        queue=url_for("rewards_pages.static", filename="offline-queue.js"),
        page=url_for("rewards_pages.offline_counter"),
    )
    return Response(script, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})
