"""QR code images: small enough codes, the library's exact modules, clean SVG and real PNG."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree

import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from core.qr import render
from core.qr.render import BORDER, clear_render_cache, qr_version, render_png, render_svg
from core.qr.signing import KindRegistry, PayloadKind, code_url, encode_payload

VOUCHER_LIKE = PayloadKind(
    "voucher_like",
    tag=2,
    registry=KindRegistry(),
    fields=(("voucher_id", "I"), ("supermarket_id", "I"), ("points", "I"), ("expires", "I")),
)
LARGEST = {field: 2**32 - 1 for field, _code in VOUCHER_LIKE.fields}
SVG = "{http://www.w3.org/2000/svg}"


def voucher_url(host: str = "jifen.example.cn") -> str:
    """The URL of a voucher-like code with the largest field values and key id."""
    token = encode_payload(VOUCHER_LIKE, LARGEST, key_id=32767, private_key=Ed25519PrivateKey.generate())
    return code_url(f"https://{host}", "V", token)


def library_modules(text: str) -> tuple[bytes, ...]:
    """The modules qrcode itself lays out for ``text`` with our settings, a bytes row each."""
    code = qrcode.QRCode(error_correction=render.ERROR_CORRECTION, border=0, mask_pattern=render.MASK_PATTERN)
    code.add_data(text)
    code.make(fit=True)
    return tuple(bytes(map(bool, row)) for row in code.modules)


def modules_drawn_by(svg: bytes) -> set[tuple[int, int]]:
    """Read back the dark modules from our SVG's path: one stroke per run, row by row."""
    path = ElementTree.fromstring(svg).find(f"{SVG}path").get("d")
    dark, x, y = set(), 0.0, 0.0
    for command, dx, dy_or_width in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(dx), float(dy_or_width)
        elif command == "m":
            x, y = x + float(dx), y + float(dy_or_width)
        else:
            dark.update((int(x) + step, int(y)) for step in range(int(dx)))
            x += float(dx)
    return dark


def test_a_voucher_sized_url_is_at_most_160_characters_and_version_8_at_level_m():
    url = voucher_url("jifen.example.cn")

    assert len(url) <= 160
    assert qr_version(url) <= 8


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "pingan.example.gov.cn", "jifen.some-county.example.gov.cn"]
)
def test_a_voucher_code_stays_at_version_8_or_lower_with_longer_hosts(host):
    assert qr_version(voucher_url(host)) <= 8


def test_the_same_url_in_lower_case_would_need_a_larger_code():
    url = voucher_url()

    assert qr_version(url.lower()) > qr_version(url)


def test_a_text_too_long_for_any_code_is_refused():
    with pytest.raises((qrcode.exceptions.DataOverflowError, ValueError)):
        render_svg("Ω" * 3000)


def test_svg_output_is_valid_xml_with_no_external_references():
    svg = render_svg(voucher_url())

    root = ElementTree.fromstring(svg)  # raises on anything that is not well-formed
    assert root.tag == f"{SVG}svg"
    assert {element.tag for element in root.iter()} == {f"{SVG}svg", f"{SVG}rect", f"{SVG}path"}
    for element in root.iter():
        for name, value in element.attrib.items():
            assert "href" not in name and "url(" not in value and "://" not in value, (name, value)
    assert b"<!DOCTYPE" not in svg and b"<!ENTITY" not in svg


def test_the_svg_draws_exactly_the_dark_modules_of_the_code():
    url = voucher_url()
    modules = library_modules(url)
    expected = {
        (x + BORDER, y + BORDER) for y, row in enumerate(modules) for x, dark in enumerate(row) if dark
    }

    assert modules_drawn_by(render_svg(url)) == expected
    size = len(modules) + 2 * BORDER
    assert ElementTree.fromstring(render_svg(url)).get("viewBox") == f"0 0 {size} {size}"


@pytest.mark.parametrize("box_size", [1, 3, 8])
def test_png_output_starts_with_the_png_signature_and_shows_the_modules(box_size):
    url = voucher_url()
    modules = library_modules(url)

    png = render_png(url, box_size=box_size)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png)).convert("L")
    size = (len(modules) + 2 * BORDER) * box_size
    assert image.size == (size, size)
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            centre = ((x + BORDER) * box_size + box_size // 2, (y + BORDER) * box_size + box_size // 2)
            assert image.getpixel(centre) == (0 if dark else 255), (x, y)
    assert image.getpixel((0, 0)) == 255  # the quiet zone is light


@pytest.mark.parametrize("box_size", [0, 51, 2.5])
def test_render_png_refuses_a_box_size_out_of_range(box_size):
    with pytest.raises(ValueError):
        render_png("HTTPS://JIFEN.EXAMPLE.CN/V/A", box_size=box_size)


def test_a_code_rendered_twice_is_served_from_the_cache():
    url = voucher_url()
    clear_render_cache()

    first_svg, first_png = render_svg(url), render_png(url)

    assert render_svg(url) is first_svg
    assert render_png(url) is first_png
    assert render._modules.cache_info().misses == 1  # the SVG and the PNG share one layout
