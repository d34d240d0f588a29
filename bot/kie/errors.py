"""Typed KIE.ai errors.

Every error carries two stable snake_case keys: `user_message_key` (what the Telegram layer shows the
buyer, translated there) and `operator_message_key` (what the admin alert / log says). The KIE text is
kept in `kie_message`, already redacted, because KIE sometimes echoes request data back.

Which class a KIE answer becomes is decided by `error_from_answer`, which looks at BOTH the HTTP status
and the body `code` (kie-api.md §2: KIE normally answers HTTP 200 with the error in the body, but some
paths, 429 at least, are documented as real HTTP statuses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, ClassVar

# Telegram bot tokens and bearer credentials that might ride along in a URL or an echoed body.
_BOT_TOKEN_RE = re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{20,}")
_BEARER_RE = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_MAX_KIE_MESSAGE = 300  # KIE messages are short; a longer one is an HTML error page we don't need in full


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets, bearer tokens and Telegram bot tokens from a text meant for logs or exceptions."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER_RE.sub("Bearer ***", text)
    return _BOT_TOKEN_RE.sub("bot***", text)


class KieError(Exception):
    """Base of every KIE failure. `code` is KIE's body code (or the HTTP status when there is no body)."""

    user_message_key: ClassVar[str] = "kie_error"
    operator_message_key: ClassVar[str] = "kie_error"
    # Whether repeating the same idempotent call (status, upload, credit) may succeed.
    retryable: ClassVar[bool] = False

    def __init__(
        self, kie_message: str = "", *, code: int | None = None, http_status: int | None = None
    ) -> None:
        self.kie_message = kie_message[:_MAX_KIE_MESSAGE]
        self.code = code
        self.http_status = http_status
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.operator_message_key]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.http_status is not None and self.http_status != self.code:
            parts.append(f"http={self.http_status}")
        if self.kie_message:
            parts.append(f"msg={self.kie_message!r}")
        return " ".join(parts)


class KieBadRequest(KieError):
    """400/451: KIE refused the content (policy, English only, input image not fetchable)."""

    user_message_key = "kie_content_rejected"
    operator_message_key = "kie_bad_request"


class KieAuthError(KieError):
    """401: the KIE API key is missing, wrong or revoked (operator must fix KIE_API_KEY)."""

    user_message_key = "kie_unavailable"
    operator_message_key = "kie_bad_key"


class KieInsufficientCredits(KieError):
    """402: the operator's KIE balance is empty; the user is refunded and the admin alerted."""

    user_message_key = "kie_unavailable"
    operator_message_key = "kie_balance_empty"


class KieNotFound(KieError):
    """404: endpoint or resource not found (usually a wrong path: a bug, not a transient state)."""

    user_message_key = "kie_unavailable"
    operator_message_key = "kie_not_found"


class KieValidationError(KieError):
    """422: KIE rejected the parameters; `kie_message` says which one."""

    user_message_key = "kie_rejected_request"
    operator_message_key = "kie_validation"


class KieTaskNotFound(KieValidationError):
    """422 "recordInfo is null" / "record is null": the task is unknown or not visible yet.

    Right after a create KIE may not show the task for a few polls, so the tracker treats this as
    "not visible yet" until its own deadline, not as a failure.
    """

    user_message_key = "kie_task_not_found"
    operator_message_key = "kie_task_not_found"


class KieRateLimited(KieError):
    """429: too many requests. KIE documents rejected creates as not queued, so a retry is safe."""

    user_message_key = "kie_busy"
    operator_message_key = "kie_rate_limited"
    retryable = True


class KieKeyLimitExceeded(KieError):
    """433: the key's own usage cap (set in the KIE dashboard) is used up."""

    user_message_key = "kie_unavailable"
    operator_message_key = "kie_key_limit"


class KieMaintenance(KieError):
    """455: KIE is under maintenance."""

    user_message_key = "kie_maintenance"
    operator_message_key = "kie_maintenance"
    retryable = True


class KieServerError(KieError):
    """500 and other 5xx (also a 2xx answer that is not a KIE envelope; on a create the client turns
    that into KieCreateOutcomeUnknown, because the task may exist)."""

    user_message_key = "kie_server_error"
    operator_message_key = "kie_server_error"
    retryable = True


class KieGenerationFailed(KieError):
    """501: generation failed."""

    user_message_key = "kie_generation_failed"
    operator_message_key = "kie_generation_failed"


class KieFeatureDisabled(KieError):
    """505: the feature (model) is disabled on KIE's side."""

    user_message_key = "kie_feature_disabled"
    operator_message_key = "kie_feature_disabled"


class KieNetworkError(KieError):
    """No answer from KIE: DNS, connection refused, timeout, connection dropped."""

    user_message_key = "kie_unreachable"
    operator_message_key = "kie_network_error"
    retryable = True


class KieCreateOutcomeUnknown(KieError):
    """A create request may have reached KIE but we got no usable answer (read timeout, dropped
    connection, gateway error, a 2xx body that is not a KIE envelope). It is never resent: one order
    must never become two paid tasks. The caller refunds the user and names the order to the admins;
    if KIE's callback later proves the task exists, the video is delivered anyway, free."""

    user_message_key = "kie_outcome_unknown"
    operator_message_key = "kie_create_outcome_unknown"


class KieDownloadTooLarge(KieError):
    """A result file is bigger than the caller's cap; nothing is kept on disk."""

    user_message_key = "kie_result_too_large"
    operator_message_key = "kie_result_too_large"

    def __init__(self, max_bytes: int, seen_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.seen_bytes = seen_bytes
        detail = f"larger than {max_bytes} bytes" + (f" (at least {seen_bytes})" if seen_bytes else "")
        super().__init__(detail)


class KieResultExpired(KieError):
    """A result URL answered 403/404/410: expired. Mint a fresh link with get_download_url()."""

    user_message_key = "kie_result_expired"
    operator_message_key = "kie_result_expired"


class KieUrlRefused(KieError):
    """A result URL (or a redirect hop, or a download-url answer) is not a public http(s) address.

    Never retried: the URL is what is wrong, not the network. The job is failed and refunded.
    """

    user_message_key = "result_url_refused"  # also the job's fail_reason (tracker)
    operator_message_key = "kie_result_url_refused"


_BY_CODE: dict[int, type[KieError]] = {
    400: KieBadRequest,
    401: KieAuthError,
    402: KieInsufficientCredits,
    404: KieNotFound,
    422: KieValidationError,
    429: KieRateLimited,
    433: KieKeyLimitExceeded,
    451: KieBadRequest,
    455: KieMaintenance,
    500: KieServerError,
    501: KieGenerationFailed,
    505: KieFeatureDisabled,
}

_TASK_NOT_FOUND_MESSAGES = ("recordinfo is null", "record is null")


def parse_code(value: Any) -> int | None:
    """KIE codes are ints, but some pages/answers give strings ("200"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def envelope_message(body: Any) -> str:
    """KIE's message text: `msg`, else `message` (both spellings appear in KIE's docs)."""
    if not isinstance(body, dict):
        return ""
    for key in ("msg", "message"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def error_class_for(code: int, message: str = "") -> type[KieError]:
    if code == 422 and message.strip().lower().rstrip(".") in _TASK_NOT_FOUND_MESSAGES:
        return KieTaskNotFound
    if code in _BY_CODE:
        return _BY_CODE[code]
    if 500 <= code <= 599:
        return KieServerError
    return KieError


def error_from_answer(http_status: int, body: Any, secrets: Iterable[str] = ()) -> KieError | None:
    """The typed error for one KIE answer, or None when it is a success (HTTP 2xx and body code 200).

    The body code wins when it is an error; otherwise a non-2xx HTTP status decides. A 2xx answer that
    is not a `{code, msg, data}` envelope is a server error (a proxy page, a truncated body).
    """
    body_code = parse_code(body.get("code")) if isinstance(body, dict) else None
    message = redact(envelope_message(body), secrets)
    if body_code is not None and body_code != 200:
        return error_class_for(body_code, message)(message, code=body_code, http_status=http_status)
    if not 200 <= http_status <= 299:
        return error_class_for(http_status, message)(message, code=http_status, http_status=http_status)
    if body_code is None:
        return KieServerError("answer is not a KIE envelope", code=None, http_status=http_status)
    return None


# --- why a generation failed -------------------------------------------------------------------------


class FailureKind(StrEnum):
    """What a failed generation tells the user to do: the one vocabulary for KIE's failCode/failMsg
    (recordInfo, callbacks) and for the 400s createTask answers with."""

    SERVER = "server"  # trouble on KIE's side: the same order may well work if tried again
    CONTENT = "content"  # refused by the model's content rules (the prompt or a picture)
    PROMPT = "prompt"  # the prompt is not accepted by this model as written (language, length)


# Words KIE's (and the upstream models') refusal messages use; checked in this order, content
# first: "prompt flagged by the content policy" is a content refusal, not a prompt format problem.
_CONTENT_WORDS = re.compile(
    r"(?i)polic|safety|unsafe|sensitive|nsfw|violat|inappropriate|prohibited|moderat|flagged|"
    r"public figure|celebrit|minor|harmful|not allowed|content"
)
_PROMPT_WORDS = re.compile(
    r"(?i)english|language|translat|prompt.{0,40}(too long|length|exceed|invalid|empty|required|"
    r"not supported|unsupported)|(too long|length|exceed).{0,40}prompt"
)


def classify_failure(code: str | int | None, message: str | None) -> FailureKind:
    """The kind of a KIE failure from its code and message (message first: the codes are shared).

    KIE documents 400 for content policy, English-only prompts and unfetchable images, 500/501 for
    its own errors (kie-api.md §2); a bare 400 is a refusal of what was asked, anything else is
    treated as KIE's trouble, which never blames the prompt.
    """
    text = message or ""
    if _CONTENT_WORDS.search(text):
        return FailureKind.CONTENT
    if _PROMPT_WORDS.search(text):
        return FailureKind.PROMPT
    if str(code or "").strip() == "400":
        return FailureKind.CONTENT
    return FailureKind.SERVER
