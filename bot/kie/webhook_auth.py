"""Authenticating KIE callbacks.

Two layers (bot-lessons.md Part 3 §4):
1. A per-job secret token in the callback URL (`/kie/callback/<token>`). Works for every family,
   including the older ones KIE does not sign.
2. KIE's optional HMAC signature (kie-api.md §3.6): headers `X-Webhook-Timestamp` (Unix seconds) and
   `X-Webhook-Signature` = base64(HMAC-SHA256(key, f"{task_id}.{timestamp}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from enum import StrEnum
from typing import Any

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_TOLERANCE_S = 300
# Where KIE posts a job's result on this bot's web server: CALLBACK_PATH_PREFIX + the job's token.
CALLBACK_PATH_PREFIX = "/kie/callback/"


def callback_url(public_url: str, token: str) -> str:
    return f"{public_url}{CALLBACK_PATH_PREFIX}{token}"


def new_callback_token() -> str:
    """A URL-safe secret for one job's callback URL (32 random bytes = 256 bits, 43 characters)."""
    return secrets.token_urlsafe(32)


def tokens_equal(expected: str, presented: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a token matched."""
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


def _key_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def sign(key: str | bytes, task_id: str, timestamp: int) -> str:
    """The signature KIE sends for `task_id` at `timestamp` (used by the simulator and by tests)."""
    digest = hmac.new(_key_bytes(key), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_headers(key: str | bytes, task_id: str, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(key, task_id, ts)}


class SignatureVerdict(StrEnum):
    OK = "ok"
    MISSING = "missing"          # no signature headers at all
    MALFORMED = "malformed"      # timestamp is not an integer
    STALE = "stale"              # timestamp outside the tolerance (replay or clock skew)
    BAD_SIGNATURE = "bad_signature"

    @property
    def ok(self) -> bool:
        return self is SignatureVerdict.OK


def verify_signature(
    key: str | bytes,
    task_id: str,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> SignatureVerdict:
    """Check one callback's HMAC headers. Timestamps too far in the past OR future are rejected."""
    if not timestamp or not signature:
        return SignatureVerdict.MISSING
    try:
        ts = int(timestamp.strip())
    except ValueError:
        return SignatureVerdict.MALFORMED
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return SignatureVerdict.STALE
    expected = sign(key, task_id, ts)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace")):
        return SignatureVerdict.BAD_SIGNATURE
    return SignatureVerdict.OK


def callback_task_id(body: Any) -> str | None:
    """The task id a callback body refers to, whatever the family (kie-api.md §3.6):
    market/Veo/Luma `data.taskId`, Runway `data.task_id`, Aleph top-level `taskId`."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if isinstance(data, dict):
        for key in ("taskId", "task_id"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    value = body.get("taskId")
    return value if isinstance(value, str) and value else None
