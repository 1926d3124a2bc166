"""Photo evidence: check, clean and shrink an uploaded photo, keep it in the database, serve it.

Photos live in ``evidence_photo`` (not on a disk) so that every app server can serve
every photo. What is kept is always a fresh JPEG re-encoded here: no metadata (EXIF
holds GPS positions of people's homes), the EXIF orientation applied, at most 1280 px.
``read_upload`` and ``clean_image`` serve every uploaded image (reward pictures too).

Pages shrink a photo in the browser before sending it (``core/static/js/forms.js``); a phone
without that script sends the camera's file, so evidence photos are taken up to 20 MB
(``PHOTO_MAX_BYTES``). Reward pictures, chosen by administrators, stay at 5 MB.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.access import can
from core.identity.models import Member
from points.models import Contribution, EvidencePhoto

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: Evidence photos straight from a phone's camera (no shrinking script) reach 10–20 MB.
PHOTO_MAX_BYTES = 20 * 1024 * 1024
MAX_SIDE = 1280
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
    data: bytes, max_side: int = MAX_SIDE, *, keep_png: bool = False, field: str = "photo"
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


def store_photo(actor: Member, file_storage) -> EvidencePhoto:
    """Keep an uploaded JPEG or PNG (up to 20 MB) as a clean JPEG of at most 1280 px."""
    content, mimetype, width, height = clean_image(read_upload(file_storage, limit=PHOTO_MAX_BYTES))
    begin_writing(db.session)  # after the slow image work, so the write lock is held briefly
    photo = EvidencePhoto(
        uploaded_by_id=actor.id, mimetype=mimetype, width=width, height=height, content=content
    )
    db.session.add(photo)
    db.session.commit()
    return photo


def get_photo(photo_id: int) -> EvidencePhoto:
    """Return a photo or refuse with 404."""
    photo = db.session.get(EvidencePhoto, photo_id)
    if photo is None:
        raise AppError(404, errors={"photo_id": ["no such photo"]})
    return photo


def read_photo(actor: Member, photo_id: int) -> EvidencePhoto:
    """Return a photo to its uploader, to staff who may review a contribution it is attached to, or
    to whoever may see a wish it shows."""
    from points.wishes.services import shows_photo_to  # the wishes attach photos through this module

    photo = get_photo(photo_id)
    if photo.uploaded_by_id == actor.id:
        return photo
    contributions = db.session.scalars(sa.select(Contribution).where(Contribution.photo_id == photo.id))
    if not any(
        can(actor, "claim.review", contribution.member) for contribution in contributions
    ) and not shows_photo_to(actor, photo.id):
        raise AppError(403)
    return photo


def photo_from_form(actor: Member, form) -> int | None:
    """Store a page form's newly chosen photo (its ``photo`` field), or reuse the one kept from a refused
    attempt (its hidden ``photo_id``, if the actor uploaded it); answer the photo's id, or None."""
    if form.photo.data:
        photo = store_photo(actor, form.photo.data)
        form.photo_id.data = str(photo.id)  # kept in the form should what it is attached to be refused
        return photo.id
    if form.photo_id.data:
        try:
            photo_id = int(form.photo_id.data)
        except ValueError:
            raise AppError(422, errors={"photo_id": ["not a photo id"]}) from None
        check_photo_owner(actor, photo_id)
        return photo_id
    return None


def check_photo_owner(actor: Member, photo_id: int | None) -> None:
    """Refuse to attach a photo the actor did not upload (nothing to check without a photo)."""
    if photo_id is None:
        return
    photo = db.session.get(EvidencePhoto, photo_id)
    if photo is None:
        raise AppError(422, errors={"photo_id": ["no such photo"]})
    if photo.uploaded_by_id != actor.id:
        raise AppError(403, errors={"photo_id": ["attach only a photo you uploaded"]})
