"""Languages: Chinese (zh-CN) by default, English complete; the choice kept in a cookie."""

from __future__ import annotations

from flask import current_app, has_request_context, request

LANGUAGE_COOKIE = "lang"
#: How each supported locale names itself in the switch.
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
#: ``<html lang>`` for each locale: the Chinese catalogue is Simplified Chinese of the mainland.
HTML_LANG = {"zh": "zh-CN", "en": "en"}


def normalise_locale(value: str | None) -> str | None:
    """Map ``zh-CN``, ``zh_Hans``, ``en-US`` and the like to a supported locale, or None."""
    if not value:
        return None
    value = value.replace("-", "_")
    supported = current_app.config["LANGUAGES"]
    if value in supported:
        return value
    primary = value.split("_")[0].lower()
    for locale in supported:
        if locale.split("_")[0].lower() == primary:
            return locale
    return None


def select_locale() -> str:
    """Choose the cookie's language, else the browser's, else Chinese (also outside requests)."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = normalise_locale(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    for value, _quality in request.accept_languages:
        chosen = normalise_locale(value)
        if chosen:
            return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def html_lang(locale: str) -> str:
    """Return the BCP 47 tag for ``<html lang>``: ``zh-CN`` or ``en``."""
    return HTML_LANG.get(locale, locale.replace("_", "-"))
