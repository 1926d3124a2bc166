"""Photo evidence: check, clean and shrink an uploaded photo, keep it in the database, serve it.

Photos live in ``evidence_photo`` (not on a disk) so that every app server can serve
every photo. What is kept is always a fresh JPEG re-encoded by ``core.images``: no metadata
(EXIF holds GPS positions of people's homes), the EXIF orientation applied, at most 1280 px.

Pages shrink a photo in the browser before sending it (``core/static/js/forms.js``); a phone
without that script sends the camera's file, so evidence photos are taken up to 20 MB
(``PHOTO_MAX_BYTES``). Reward pictures, chosen by administrators, stay at 5 MB.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.access import can
from core.identity.models import Member
from core.images import clean_image, read_upload
from core.refusals import require_found
from points.models import Contribution, EvidencePhoto

#: Evidence photos straight from a phone's camera (no shrinking script) reach 10–20 MB.
PHOTO_MAX_BYTES = 20 * 1024 * 1024
PHOTO_SIDE = 1280


def allow_photo_uploads(blueprint, *endpoints: str) -> None:
    """Raise the body limit to ``PHOTO_MAX_BYTES`` for POSTs to these endpoints of the blueprint, before
    anything (the CSRF check, webargs) reads the body."""

    @blueprint.url_value_preprocessor
    def raise_body_limit(endpoint, _values):
        if endpoint in endpoints and request.method == "POST":
            request.max_content_length = PHOTO_MAX_BYTES


def store_photo(actor: Member, file_storage) -> EvidencePhoto:
    """Keep an uploaded JPEG or PNG (up to 20 MB) as a clean JPEG of at most 1280 px."""
    content, mimetype, width, height = clean_image(
        read_upload(file_storage, limit=PHOTO_MAX_BYTES), PHOTO_SIDE
    )
    begin_writing(db.session)  # after the slow image work, so the write lock is held briefly
    photo = EvidencePhoto(
        uploaded_by_id=actor.id, mimetype=mimetype, width=width, height=height, content=content
    )
    db.session.add(photo)
    db.session.commit()
    return photo


def get_photo(photo_id: int) -> EvidencePhoto:
    """Return a photo or refuse with 404."""
    return require_found(db.session.get(EvidencePhoto, photo_id), "photo_id", "photo")


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
