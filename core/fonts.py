"""A CJK font for images and printouts: configured by ``CJK_FONT_PATH``, else Debian's usual places."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import ImageFont

from core.errors import AppError

#: Debian's fonts-wqy-microhei (small) and fonts-noto-cjk (large).
DEFAULT_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)


def cjk_font_path() -> Path:
    """Return the CJK font file to draw with, or refuse clearly (never print empty boxes)."""
    configured = current_app.config.get("CJK_FONT_PATH")
    for candidate in ([configured] if configured else []) + list(DEFAULT_CJK_FONTS):
        if Path(candidate).is_file():
            return Path(candidate)
    raise AppError(
        503,
        "font_missing",
        _l(
            "No Chinese font is installed on the server "
            "(apt-get install fonts-wqy-microhei, or set CJK_FONT_PATH)."
        ),
    )


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """Return the CJK font at ``size`` pixels."""
    return _font(str(cjk_font_path()), size)
