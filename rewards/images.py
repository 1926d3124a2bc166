"""Reward pictures: checked, turned upright, shrunk and re-encoded like evidence photos.

A picture lives in ``reward_image`` beside its reward, so that any app server can serve
it and a catalogue list never loads its bytes. Its URL carries the SHA-256 of the
bytes (``?v=…``): a new picture is a new URL, so browsers may keep each one for a year.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from core.images import clean_image, read_upload
from rewards.models import Reward, RewardImage
from rewards.services import get_reward, require_reward_manager

#: Pictures are shown small on phones; 640 px is sharp at twice the size shown.
IMAGE_SIDE = 640
FIELD = "image"


def _lock_reward(reward_id: int) -> Reward:
    """Lock a reward's row (``FOR UPDATE``) so that two uploads of its picture take turns."""
    reward = db.session.scalar(
        sa.select(Reward)
        .where(Reward.id == reward_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if reward is None:
        raise AppError(404, errors={"reward_id": ["no such reward"]})
    return reward


def _picture_facts(image: RewardImage | None) -> dict | None:
    """What the audit log keeps of a picture (never its bytes)."""
    if image is None:
        return None
    return {"digest": image.digest, "mimetype": image.mimetype, "width": image.width, "height": image.height}


def set_reward_image(actor: Member, reward_id: int, file_storage) -> Reward:
    """Add or replace a reward's picture: a JPEG or PNG up to 5 MB, kept at most 640 px (admins)."""
    # The slow image work comes first, outside the transaction that writes it.
    content, mimetype, width, height = clean_image(
        read_upload(file_storage, FIELD), IMAGE_SIDE, keep_png=True, field=FIELD
    )
    return _store_reward_image(actor, reward_id, content, mimetype, width, height)


def _store_reward_image(
    actor: Member, reward_id: int, content: bytes, mimetype: str, width: int, height: int
) -> Reward:
    """Write a cleaned picture in place of the reward's old one, audited."""
    require_reward_manager(actor)
    begin_writing(db.session)
    reward = _lock_reward(reward_id)
    before = _picture_facts(reward.image)
    facts = {
        "digest": hashlib.sha256(content).hexdigest(),
        "mimetype": mimetype,
        "width": width,
        "height": height,
    }
    if reward.image is None:
        reward.image = RewardImage(reward_id=reward.id, content=content, uploaded_by_id=actor.id, **facts)
    else:
        for key, value in facts.items():
            setattr(reward.image, key, value)
        reward.image.content = content
        reward.image.uploaded_by_id, reward.image.uploaded_at = actor.id, utcnow()
    record_audit(
        actor, "reward.image.set", reward, before=before and {"image": before}, after={"image": facts}
    )
    db.session.commit()
    return reward


def delete_reward_image(actor: Member, reward_id: int) -> None:
    """Remove a reward's picture (admins); nothing to do when it has none."""
    require_reward_manager(actor)
    begin_writing(db.session)
    reward = _lock_reward(reward_id)
    if reward.image is None:
        db.session.rollback()
        return
    record_audit(actor, "reward.image.delete", reward, before={"image": _picture_facts(reward.image)})
    reward.image = None
    db.session.commit()


def read_reward_image(reward_id: int) -> RewardImage:
    """Return a reward's picture (its bytes load only when read), or refuse with 404."""
    get_reward(reward_id)
    image = db.session.get(RewardImage, reward_id)
    if image is None:
        raise AppError(404, errors={FIELD: ["this reward has no picture"]})
    return image
