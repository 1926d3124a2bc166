"""Uploaded images: read an upload within a size limit, check it is a JPEG or PNG, and re-encode it.

What is kept is always a fresh copy encoded here: no metadata (EXIF holds GPS positions of
people's homes), the EXIF orientation applied, shrunk to a given side. Evidence photos and
reward pictures both pass here.
"""

from __future__ import annotations

import io

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import AppError

#: The largest image upload by default (reward pictures, chosen by administrators).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
JPEG_QUALITY = 80
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG"})
#: A 5 MB file can still unpack into gigabytes of pixels; no phone camera comes near this.
MAX_PIXELS = 60_000_000


def _unsupported(field: str) -> AppError:
    return AppError(
        415, "unsupported_media_type", _l("Send a JPEG or PNG photo."), {field: ["not a JPEG or PNG image"]}
    )


def _broken(field: str) -> AppError:
    return AppError(
        422,
        "validation_error",
        _l("This photo could not be read."),
        {field: ["the image is damaged or incomplete"]},
    )


def read_upload(file_storage, field: str = "photo", limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """Return the uploaded bytes, refusing a missing, empty or too large file (errors under ``field``)."""
    if file_storage is None:
        raise AppError(422, errors={field: ["choose a photo"]})
    data = file_storage.read(limit + 1)
    if not data:
        raise AppError(422, errors={field: ["the file is empty"]})
    if len(data) > limit:  # a body sent without Content-Length slips past the request limit
        megabytes = limit // (1024 * 1024)
        raise AppError(
            413,
            "payload_too_large",
            _l("The photo is larger than %(mb)d MB.", mb=megabytes),
            {field: [f"at most {megabytes} MB"]},
        )
    return data


def _flatten(image: Image.Image) -> Image.Image:
    """Return an RGB image, laying any transparency on white (JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image, as_png: bool) -> tuple[bytes, str]:
    """Encode a decoded image afresh: (bytes, mimetype)."""
    out = io.BytesIO()
    # Saved without exif= or icc_profile=: the copy carries no metadata at all.
    if as_png:
        image.save(out, "PNG", optimize=True)
        return out.getvalue(), "image/png"
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), "image/jpeg"


def clean_image(
    data: bytes, max_side: int, *, keep_png: bool = False, field: str = "photo"
) -> tuple[bytes, str, int, int]:
    """Verify an upload is a JPEG or PNG, turn it upright, shrink it to ``max_side`` and re-encode it.

    Answers (bytes, mimetype, width, height): a JPEG, or a PNG when ``keep_png`` and the
    upload was one (so transparency survives). Refusals name ``field``.
    """
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ACCEPTED_FORMATS:
                raise _unsupported(field)
            if probe.width * probe.height > MAX_PIXELS:
                raise _broken(field)
            as_png = keep_png and probe.format == "PNG"
            probe.verify()
        # verify() leaves the image unusable: open it again to decode it.
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG decodes at a smaller scale: faster, less memory
            image = ImageOps.exif_transpose(image)
            if as_png:  # keeps its transparency; JPEG has none, so it is laid on white
                image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB")
            else:
                image = _flatten(image)
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            content, mimetype = _encode(image, as_png)
    except UnidentifiedImageError:
        raise _unsupported(field) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _broken(field) from None
    return content, mimetype, image.width, image.height
