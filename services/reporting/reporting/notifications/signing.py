"""Webhook secrets and signatures as the Standard Webhooks specification writes them (standardwebhooks.com).

A secret is ``whsec_`` + the base64 of 32 random bytes; the signed content is ``{webhook-id}.{webhook-timestamp}.
{body}``; ``webhook-signature`` is ``v1,`` + the base64 of its HMAC-SHA256 under the secret's bytes. A receiver
checks it with any Standard Webhooks library, or with :func:`verify` (constant-time comparison, timestamp within a
tolerance against replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
"""How far a receiver accepts a ``webhook-timestamp`` from its own clock (the specification's five minutes)."""


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(PREFIX), validate=True)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body`` sent as message ``message_id`` at ``timestamp`` (Unix seconds)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, message_id: str, timestamp: str, body: bytes, signature_header: str, now: int) -> bool:
    """Whether one of the space-separated signatures of ``signature_header`` signs ``body`` and ``timestamp`` is
    within :data:`TOLERANCE_SECONDS` of ``now``: what a receiver checks."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, message_id, sent, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature_header.split(" "))
