"""QR code images: SVG and PNG at error correction M, with a fixed mask and an LRU cache.

``qrcode`` spends most of its time choosing a mask (eight trial layouts, each scored);
every scanner reads any mask, so one fixed mask is used. The library lays the code out
and the SVG and PNG are drawn straight from its modules; a code rendered again costs
nothing.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

import qrcode
from markupsafe import Markup
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

ERROR_CORRECTION = ERROR_CORRECT_M
#: Any mask scans; fixing one saves the library's eight trial layouts.
MASK_PATTERN = 0
#: The quiet zone the standard asks for, in modules.
BORDER = 4
#: Pixels per module: the SVG's intrinsic size (pages may scale it) and the PNG's default.
SVG_MODULE_PX = 6
PNG_BOX_SIZE = 8
#: Codes and images kept per process; a voucher's code is shown a few times, then never again.
CACHE_SIZE = 512

Modules = tuple[bytes, ...]
_DARK_RUN = re.compile(rb"\x01+")
_TO_PIXELS = bytes.maketrans(b"\x00\x01", b"\xff\x00")


@lru_cache(maxsize=CACHE_SIZE)
def _code(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=0, mask_pattern=MASK_PATTERN)
    code.add_data(text)
    code.make(fit=True)
    return code


@lru_cache(maxsize=CACHE_SIZE)
def _modules(text: str) -> Modules:
    """Lay out the code holding ``text`` (no border): one row of 1 (dark) and 0 bytes per line."""
    return tuple(bytes(map(bool, row)) for row in _code(text).modules)


def qr_modules(text: str) -> Modules:
    """The modules of the code holding ``text`` (no quiet zone): one row of 1 (dark) and 0 bytes per line,
    for drawing it as vectors (a printed card)."""
    return _modules(text)


def qr_version(text: str) -> int:
    """Return the QR version (1-40) of the code holding ``text`` at level M."""
    return _code(text).version


@lru_cache(maxsize=CACHE_SIZE)
def _svg(text: str) -> bytes:
    modules = _modules(text)
    size = len(modules) + 2 * BORDER
    # Each row is one stroke of width 1 through the middle of its modules: short and crisp.
    path = []
    for y, row in enumerate(modules, start=BORDER):
        x_end = None
        for run in _DARK_RUN.finditer(row):
            start, end = run.start() + BORDER, run.end() + BORDER
            path.append(
                f"M{start} {y}.5h{end - start}" if x_end is None else f"m{start - x_end} 0h{end - start}"
            )
            x_end = end
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * SVG_MODULE_PX}" height="{size * SVG_MODULE_PX}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path stroke="#000" d="{"".join(path)}"/></svg>\n'
    ).encode("ascii")


def render_svg(text: str) -> bytes:
    """Return the QR code holding ``text`` as a small self-contained SVG (cached)."""
    return _svg(text)


def inline_svg(text: str) -> Markup:
    """Return the QR code holding ``text`` as SVG markup to place inside a page (no XML declaration)."""
    # Safe as markup: the SVG is drawn from the code's modules; ``text`` itself never reaches it.
    return Markup(_svg(text).decode("ascii").split("?>", 1)[1])  # nosec B704


@lru_cache(maxsize=CACHE_SIZE)
def _png(text: str, box_size: int) -> bytes:
    modules = _modules(text)
    size = len(modules) + 2 * BORDER
    margin = b"\xff" * BORDER
    light_rows = b"\xff" * size * BORDER
    pixels = (
        light_rows + b"".join(margin + row.translate(_TO_PIXELS) + margin for row in modules) + light_rows
    )
    image = Image.frombytes("L", (size, size), pixels).convert("1", dither=Image.Dither.NONE)
    image = image.resize((size * box_size, size * box_size), Image.Resampling.NEAREST)
    output = io.BytesIO()
    image.save(output, "PNG")
    return output.getvalue()


def render_png(text: str, box_size: int = PNG_BOX_SIZE) -> bytes:
    """Return the QR code holding ``text`` as a black-and-white PNG, ``box_size`` px a module (cached)."""
    if not isinstance(box_size, int) or not 1 <= box_size <= 50:
        raise ValueError(f"box_size must be 1 to 50 pixels, not {box_size!r}")
    return _png(text, box_size)


def clear_render_cache() -> None:
    """Forget every cached code and image (for measurements and tests)."""
    for cached in (_code, _modules, _svg, _png):
        cached.cache_clear()
