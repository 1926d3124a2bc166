"""A fake camera for Chromium: a Y4M video whose one frame shows a QR code (TIPS.md's recipe)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from PIL import Image

from core.qr.render import render_png
from tests.browser.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, PHONE
from tests.conftest import unavailable

WIDTH, HEIGHT = 640, 480
#: Fake-device flags: without --use-fake-device-for-media-stream getUserMedia finds no camera.
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def write_qr_video(path: Path, text: str, box_size: int = 6) -> Path:
    """Write a one-frame 640×480 4:2:0 Y4M showing the QR code of ``text`` on light grey."""
    code = Image.open(io.BytesIO(render_png(text, box_size=box_size))).convert("L")
    if code.width > HEIGHT:
        raise ValueError(f"a {code.width}px code does not fit a {HEIGHT}px frame; use a smaller box_size")
    frame = Image.new("L", (WIDTH, HEIGHT), 235)
    frame.paste(code, ((WIDTH - code.width) // 2, (HEIGHT - code.height) // 2))
    chroma = bytes([128]) * (WIDTH // 2) * (HEIGHT // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420\n".encode("ascii"))
        out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


def camera_phone(chromium, base: str):
    """A phone's context of a camera Chromium, allowed the camera on ``base`` and with no native
    BarcodeDetector: the page must decode with the qr-scanner it serves."""
    context = chromium.new_context(**PHONE)
    context.grant_permissions(["camera"], origin=base)
    context.add_init_script("delete window.BarcodeDetector;")
    return context


def launch_with_camera(browser_type, video: Path):
    """Launch another Chromium whose camera shows ``video``, with no permission prompt.

    ``browser_type`` is the running Playwright's ``chromium`` (``browser.browser_type`` of the
    shared fixture): one Playwright per process, since its sync API cannot nest.
    """
    if not Path(CHROMIUM_PATH).exists() and not shutil.which(CHROMIUM_PATH):
        unavailable(f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium)")
    return browser_type.launch(
        executable_path=CHROMIUM_PATH,
        args=[*CHROMIUM_ARGS, *CAMERA_ARGS, f"--use-file-for-fake-video-capture={video.resolve()}"],
    )
