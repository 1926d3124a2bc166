"""The signing keys of QR payloads: one row per Ed25519 key pair, the private half sealed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.database import utcnow
from core.extensions import db


class SigningKey(db.Model):
    """An Ed25519 key pair that signs QR payloads; see ``core.qr.keys`` for how it is sealed.

    A row never changes once written except ``retired_at``, set when a newer key takes
    over signing; retired keys still verify the codes they signed.
    """

    __tablename__ = "signing_key"

    #: The key id inside every payload (two bytes). Assigned as the highest id + 1 rather
    #: than by a sequence, so ids stay small and dense, and two processes creating a key
    #: at the same moment collide on the primary key: one commits, the other retries.
    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    #: The raw 32-byte public key: all a verifier needs.
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary, unique=True)
    #: AES-256-GCM nonce (12 bytes) followed by the sealed 32-byte private key and its tag.
    private_key_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When a newer key took over signing; the key keeps verifying the codes it signed.
    retired_at: Mapped[datetime | None]
