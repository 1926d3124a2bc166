"""The Chinese catalogue translates every text of the code and templates."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("**/.venv/**", "ignore"), ("**/tests/**", "ignore"),
           ("**.py", "python"), ("**/templates/**.html", "jinja2")]


def texts_in_code() -> set[str]:
    """Collect every translatable text in the packages."""
    found = set()
    for package in ("app.py", "core", "points", "rewards", "admin"):
        path = ROOT / package
        directory = str(path if path.is_dir() else ROOT)
        methods = METHODS if path.is_dir() else [("app.py", "python")]
        for _file, _line, message, _comments, _context in extract_from_dir(
                directory, methods, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_has_a_chinese_translation():
    with open(ROOT / "core/translations/zh/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle, locale="zh")
    translated = {message.id for message in catalogue if message.id and message.string
                  and not message.fuzzy}
    missing = sorted(texts_in_code() - translated)
    assert not missing, "untranslated (run `make extract-messages`, then translate): " + "; ".join(missing)
