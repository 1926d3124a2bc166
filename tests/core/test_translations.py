"""The Chinese catalogue translates every text of the code and templates."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app import TRANSLATED_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
}
METHODS = [
    ("**/.venv/**", "ignore"),
    ("**/tests/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]


def texts_in(package: str) -> set[str]:
    """Collect every translatable text of one package (``core`` also holds ``app.py``'s)."""
    found = set()
    sources = [(ROOT / package, METHODS)]
    if package == "core":
        sources.append((ROOT, [("app.py", "python")]))
    for directory, methods in sources:
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(directory), methods, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("package", TRANSLATED_PACKAGES)
def test_every_text_has_a_chinese_translation_in_its_package(package):
    with open(ROOT / package / "translations/zh/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle, locale="zh")
    translated = {
        message.id if isinstance(message.id, str) else message.id[0]  # plurals: by the singular
        for message in catalogue
        if message.id
        and not message.fuzzy
        and (all(message.string) if isinstance(message.string, tuple) else message.string)
    }
    missing = sorted(texts_in(package) - translated)
    assert not missing, "untranslated (run `make extract-messages`, then translate): " + "; ".join(missing)


@pytest.mark.parametrize("package", TRANSLATED_PACKAGES)
def test_the_chinese_texts_address_the_reader_as_nin(package):
    with open(ROOT / package / "translations/zh/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle, locale="zh")
    familiar = [message.id for message in catalogue if message.id and "你" in str(message.string)]
    assert not familiar, "say 您, not 你: " + "; ".join(familiar)
