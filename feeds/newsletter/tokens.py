"""Signed links for mails: who the reader is and what the link may do, without a session.

A token carries a subscriber id and token version, signed with a salt per
purpose (a confirmation link cannot unsubscribe, an unsubscribe link cannot
change preferences). The first secret signs, every listed secret verifies, so
keys rotate without breaking links already mailed. Time comes in as ``now``;
itsdangerous's own clock is replaced so tests decide what time it is.

The same keys make VERP return paths, ``bounce+<id>.<mac>@domain``: a bounce
names its subscriber, and nobody without the key can make one that does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Literal, get_args

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

if TYPE_CHECKING:
    from feeds.newsletter.subscribers import Subscriber, SubscriberStore

Purpose = Literal["confirm", "unsubscribe", "preferences"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
_VERP = re.compile(r"^bounce\+(\d+)\.([a-z2-7]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class Claim:
    subscriber_id: int
    token_version: int


class Refusal(Enum):
    TAMPERED = "tampered"
    EXPIRED = "expired"
    WRONG_PURPOSE = "wrong purpose"
    REVOKED = "revoked"


def _signer_at(moment: datetime) -> type[TimestampSigner]:
    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(moment.timestamp())

    return Signer


class Tokens:
    """Makes and reads the links of one deployment's keys."""

    def __init__(self, secrets: Sequence[str]):
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty secret is needed")
        self.secrets = list(secrets)

    def _serializer(self, purpose: Purpose, now: datetime | None = None) -> URLSafeTimedSerializer:
        # itsdangerous signs with the last key of the list and verifies with all of them.
        keys = list(reversed(self.secrets))
        if now is None:
            return URLSafeTimedSerializer(keys, salt=f"feeds.{purpose}")
        return URLSafeTimedSerializer(keys, salt=f"feeds.{purpose}", signer=_signer_at(now))

    def make(self, purpose: Purpose, subscriber: Subscriber, *, now: datetime | None = None) -> str:
        """A URL-safe token for one subscriber and one purpose, stamped with ``now``."""
        payload = [subscriber.id, subscriber.token_version]
        return self._serializer(purpose, now).dumps(payload)

    def read(
        self, token: str, purpose: Purpose, *, now: datetime, max_age: timedelta | None
    ) -> Claim | Refusal:
        """What a token claims, or why it is refused. Revocation is ``check``'s job."""
        try:
            payload, stamped = self._serializer(purpose).loads(
                token, max_age=None, return_timestamp=True
            )
        except SignatureExpired:  # pragma: no cover - max_age is never given to itsdangerous
            return Refusal.EXPIRED
        except BadData:
            wrong = self._other_purpose(token, purpose)
            return Refusal.WRONG_PURPOSE if wrong else Refusal.TAMPERED
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not all(type(value) is int for value in payload)
        ):
            return Refusal.TAMPERED
        if max_age is not None and now - stamped.astimezone(UTC) > max_age:
            return Refusal.EXPIRED
        return Claim(payload[0], payload[1])

    def _other_purpose(self, token: str, purpose: Purpose) -> bool:
        for other in PURPOSES:
            if other == purpose:
                continue
            try:
                self._serializer(other).loads(token, max_age=None)
            except BadData:
                continue
            return True
        return False

    def verp(self, subscriber_id: int, domain: str) -> str:
        """The envelope sender of one subscriber's messages: bounces come back naming them."""
        return f"bounce+{subscriber_id}.{self._mac(subscriber_id, self.secrets[0])}@{domain}"

    def read_verp(self, address: str) -> int | None:
        """The subscriber a VERP address names, or None if it is not ours or its MAC is wrong."""
        match = _VERP.match(address.strip().strip("<>"))
        if not match:
            return None
        subscriber_id, mac = int(match.group(1)), match.group(2).lower()
        for secret in self.secrets:
            if hmac.compare_digest(mac, self._mac(subscriber_id, secret)):
                return subscriber_id
        return None

    @staticmethod
    def _mac(subscriber_id: int, secret: str) -> str:
        # Lower-case base32: mail systems may change the case of a local part.
        digest = hmac.new(
            secret.encode("utf-8"), f"verp:{subscriber_id}".encode(), hashlib.sha256
        ).digest()
        return base64.b32encode(digest[:10]).decode("ascii").lower()


def check(claim: Claim, store: SubscriberStore) -> Subscriber | Refusal:
    """The subscriber a claim names, or REVOKED if it is gone or its links were revoked."""
    subscriber = store.get(claim.subscriber_id)
    if subscriber is None or subscriber.token_version != claim.token_version:
        return Refusal.REVOKED
    return subscriber
