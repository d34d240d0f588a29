"""Callback secret tokens and KIE's HMAC webhook signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

from bot.kie.webhook_auth import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureVerdict,
    callback_task_id,
    new_callback_token,
    sign,
    signature_headers,
    tokens_equal,
    verify_signature,
)

KEY = "hmac-key-from-kie-settings"


def test_callback_tokens_are_urlsafe_and_long() -> None:
    tokens = {new_callback_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) >= 43  # 32 bytes of entropy in base64url
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_tokens_equal() -> None:
    token = new_callback_token()
    assert tokens_equal(token, token)
    assert not tokens_equal(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not tokens_equal(token, "")


def test_sign_matches_the_documented_formula() -> None:
    expected = base64.b64encode(
        hmac.new(KEY.encode(), b"task_1.1700000000", hashlib.sha256).digest()
    ).decode()
    assert sign(KEY, "task_1", 1700000000) == expected
    assert sign(KEY.encode(), "task_1", 1700000000) == expected


def test_valid_signature_is_accepted() -> None:
    headers = signature_headers(KEY, "task_1", 1700000000)
    verdict = verify_signature(
        KEY, "task_1", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=1700000100
    )
    assert verdict is SignatureVerdict.OK
    assert verdict.ok


def test_bad_signature_wrong_task_or_key_is_rejected() -> None:
    signature = sign(KEY, "task_1", 1700000000)
    assert verify_signature(KEY, "task_2", "1700000000", signature, now=1700000000) is (
        SignatureVerdict.BAD_SIGNATURE
    )
    assert verify_signature("other-key", "task_1", "1700000000", signature, now=1700000000) is (
        SignatureVerdict.BAD_SIGNATURE
    )
    assert verify_signature(KEY, "task_1", "1700000000", "garbage", now=1700000000) is (
        SignatureVerdict.BAD_SIGNATURE
    )


def test_stale_and_future_timestamps_are_rejected() -> None:
    old = 1700000000
    signature = sign(KEY, "task_1", old)
    assert verify_signature(KEY, "task_1", str(old), signature, now=old + 301) is SignatureVerdict.STALE
    assert verify_signature(KEY, "task_1", str(old), signature, now=old - 301) is SignatureVerdict.STALE
    assert verify_signature(KEY, "task_1", str(old), signature, now=old + 299) is SignatureVerdict.OK
    assert verify_signature(KEY, "task_1", str(old), signature, now=old + 50, tolerance_s=10) is (
        SignatureVerdict.STALE
    )


def test_missing_and_malformed_headers() -> None:
    assert verify_signature(KEY, "t", None, None) is SignatureVerdict.MISSING
    assert verify_signature(KEY, "t", "123", "") is SignatureVerdict.MISSING
    assert verify_signature(KEY, "t", "yesterday", "sig") is SignatureVerdict.MALFORMED


def test_callback_task_id_for_every_family_shape() -> None:
    assert callback_task_id({"code": 200, "data": {"taskId": "veo_1", "info": {}}}) == "veo_1"
    assert callback_task_id({"code": 200, "data": {"task_id": "uuid-1", "video_url": "x"}}) == "uuid-1"
    assert callback_task_id({"code": 400, "data": None, "taskId": "aleph-1"}) == "aleph-1"
    assert (
        callback_task_id({"code": 200, "data": {"result_video_url": "x"}, "taskId": "aleph-2"}) == "aleph-2"
    )
    assert callback_task_id({"code": 200, "data": {}}) is None
    assert callback_task_id("not a dict") is None
