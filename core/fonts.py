"""A CJK font for images and printouts: configured by ``CJK_FONT_PATH``, else Debian's usual places.

Images draw with it through Pillow (``cjk_font``); PDFs through ReportLab (``pdf_font``), which
embeds the glyphs a document uses as a subset, so the text stays text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import ImageFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from core.errors import AppError

#: Debian's fonts-wqy-microhei (small) and fonts-noto-cjk (large).
DEFAULT_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)


#: The name PDFs know the CJK font by.
PDF_FONT = "pingan-cjk"


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


@lru_cache(maxsize=4)
def _register_pdf_font(path: str) -> str:
    try:
        pdfmetrics.registerFont(TTFont(PDF_FONT, path, subfontIndex=0))
    except TTFError as error:
        raise AppError(
            503,
            "font_missing",
            _l(
                "The Chinese font on the server cannot be embedded in a PDF "
                "(install fonts-wqy-microhei, or set CJK_FONT_PATH)."
            ),
        ) from error
    return PDF_FONT


def pdf_font() -> str:
    """Register the CJK font with ReportLab once per process (the first face of a collection) and
    answer the name PDFs draw with."""
    return _register_pdf_font(str(cjk_font_path()))
