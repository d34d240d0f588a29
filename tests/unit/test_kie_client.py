"""KieClient against the KIE simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.catalog import Catalog, Family, ModelEntry, Order, build_catalog
from bot.kie.adapters import adapter_for
from bot.kie.client import KieClient, KieTimeouts, RetryPolicy
from bot.kie.errors import (
    KieAuthError,
    KieCreateOutcomeUnknown,
    KieDownloadTooLarge,
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieMaintenance,
    KieNetworkError,
    KieRateLimited,
    KieResultExpired,
    KieServerError,
    KieTaskNotFound,
    KieValidationError,
    error_from_answer,
)
from bot.kie.ratelimit import SlidingWindowLimiter, Unlimited
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.kie.sandbox.rules import ratio_name
from bot.kie.sandbox.simulator import MEDIA_DIR
from bot.kie.types import CreateRequest, StatusRequest, TaskState

KEY = "client-test-key-0123456789"
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.0, max_delay_s=0.0)

Builder = Callable[..., Awaitable[KieClient]]


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    simulator = KieSimulator(KEY, timings=SimTimings(wait_s=0.0, queue_s=0.0, generate_s=0.02))
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def make_client(sim: KieSimulator) -> AsyncIterator[Builder]:
    clients: list[KieClient] = []

    async def build(**overrides: Any) -> KieClient:
        options: dict[str, Any] = {
            "api_base": sim.base_url,
            "upload_base": sim.base_url,
            "retry": FAST_RETRY,
            "create_retry": FAST_RETRY,
            "status_limiter": Unlimited(),
            # The simulator serves results on 127.0.0.1: exactly its host:port may be fetched.
            "fetch_allow": (sim.base_url.removeprefix("http://"),),
        }
        options.update(overrides)
        client = KieClient(options.pop("api_key", KEY), **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: Builder) -> KieClient:
    return await make_client()


# Hand-written requests, exactly as kie-api.md documents them (independent of bot/kie/adapters).
FAMILY_CASES: dict[str, tuple[CreateRequest, str, Callable[[dict[str, Any]], Any]]] = {
    "veo": (
        CreateRequest(
            "/api/v1/veo/generate",
            {
                "prompt": "a fox",
                "model": "veo3_fast",
                "aspectRatio": "9:16",
                "generationType": "TEXT_2_VIDEO",
            },
        ),
        "/api/v1/veo/record-info",
        lambda d: (d["successFlag"], (d["response"] or {}).get("resultUrls")),
    ),
    "runway": (
        CreateRequest(
            "/api/v1/runway/generate",
            {"prompt": "a fox", "duration": 5, "quality": "1080p", "aspectRatio": "16:9", "waterMark": ""},
        ),
        "/api/v1/runway/record-detail",
        lambda d: (d["state"], (d["videoInfo"] or {}).get("videoUrl")),
    ),
    "aleph": (
        CreateRequest(
            "/api/v1/aleph/generate",
            {"prompt": "make it night", "videoUrl": "https://h/in.mp4", "aspectRatio": "16:9"},
        ),
        "/api/v1/aleph/record-info",
        lambda d: (d["successFlag"], (d["response"] or {}).get("resultVideoUrl")),
    ),
    "modify": (
        CreateRequest("/api/v1/modify/generate", {"prompt": "make it night", "videoUrl": "https://h/in.mp4"}),
        "/api/v1/modify/record-info",
        lambda d: (d["successFlag"], (d["response"] or {}).get("resultUrls")),
    ),
    "market": (
        CreateRequest(
            "/api/v1/jobs/createTask",
            {
                "model": "kling/v2-5-turbo-text-to-video-pro",
                "input": {"prompt": "a fox", "duration": "5", "aspect_ratio": "16:9"},
            },
        ),
        "/api/v1/jobs/recordInfo",
        lambda d: (d["state"], d["resultJson"]),
    ),
}


async def poll_until_final(client: KieClient, req: StatusRequest) -> dict[str, Any]:
    for _ in range(200):
        data = await client.get_status(req)
        if data.get("state") in ("success", "fail") or data.get("successFlag") not in (None, 0):
            return data
        if data.get("errorCode"):  # Aleph: successFlag 0 + errorCode = failed
            return data
        await asyncio.sleep(0.01)
    raise AssertionError("task never finished")


@pytest.mark.parametrize("family", sorted(FAMILY_CASES))
async def test_create_then_status_to_success(family: str, client: KieClient, sim: KieSimulator) -> None:
    create, status_path, summary = FAMILY_CASES[family]
    task_id = await client.create_task(create)
    data = await poll_until_final(client, StatusRequest(status_path, {"taskId": task_id}))
    outcome, urls = summary(data)
    assert outcome in (1, "success")
    assert urls and sim.result_url(task_id) in json.dumps(urls)
    # The simulator saw exactly the documented request, with the key only in the header.
    recorded = sim.requests_to(create.path)
    assert [r.json for r in recorded] == [create.body]
    assert recorded[0].headers["Authorization"] == f"Bearer {KEY}"
    assert sim.telegram_leaks() == []


@pytest.mark.parametrize("family", sorted(FAMILY_CASES))
async def test_create_then_status_to_failure(family: str, client: KieClient, sim: KieSimulator) -> None:
    create, status_path, _ = FAMILY_CASES[family]
    sim.faults.set(fail=(501, "Simulated generation failure"))
    task_id = await client.create_task(create)
    data = await poll_until_final(client, StatusRequest(status_path, {"taskId": task_id}))
    if family == "market" or family == "runway":
        assert data["state"] == "fail"
    elif family == "aleph":
        assert (data["successFlag"], data["errorCode"]) == (0, 501)
    else:
        assert data["successFlag"] == 3
    assert "Simulated generation failure" in json.dumps(data)


async def test_unknown_task_raises_task_not_found(client: KieClient, sim: KieSimulator) -> None:
    with pytest.raises(KieTaskNotFound) as caught:
        await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "missing"}))
    assert caught.value.user_message_key == "kie_task_not_found"
    assert len(sim.requests_to("/api/v1/jobs/recordInfo")) == 1  # not retried


# ---------------------------------------------------------------------------- retries


async def test_status_retries_5xx_then_succeeds(client: KieClient, sim: KieSimulator) -> None:
    task_id = await client.create_task(FAMILY_CASES["market"][0])
    sim.faults.inject("status", http_status=500, times=1)
    sim.faults.inject("status", code=455, msg="maintenance", times=1)
    data = await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": task_id}))
    assert data["taskId"] == task_id
    assert len(sim.requests_to("/api/v1/jobs/recordInfo")) == 3
    assert client.stats.retries == 2


async def test_status_gives_up_after_the_retry_budget(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("status", code=500, msg="Internal error", times=None)
    with pytest.raises(KieServerError):
        await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "x"}))
    assert len(sim.requests_to("/api/v1/jobs/recordInfo")) == FAST_RETRY.attempts


async def test_create_is_not_resent_after_read_timeout(make_client: Builder, sim: KieSimulator) -> None:
    client = await make_client(timeouts=KieTimeouts(read_s=0.2))
    sim.faults.inject("create", hang=True, process=True)
    with pytest.raises(KieCreateOutcomeUnknown) as caught:
        await client.create_task(FAMILY_CASES["market"][0])
    assert caught.value.operator_message_key == "kie_create_outcome_unknown"
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1
    assert len(sim.tasks) == 1  # KIE did take it: exactly why we must not resend


async def test_create_is_not_resent_after_dropped_connection(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("create", drop=True, process=True)
    with pytest.raises(KieCreateOutcomeUnknown):
        await client.create_task(FAMILY_CASES["veo"][0])
    assert len(sim.requests_to("/api/v1/veo/generate")) == 1


async def test_create_gateway_error_is_outcome_unknown(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("create", http_status=504, process=True)
    with pytest.raises(KieCreateOutcomeUnknown):
        await client.create_task(FAMILY_CASES["veo"][0])
    assert len(sim.requests_to("/api/v1/veo/generate")) == 1


async def test_create_with_kie_500_answer_is_not_retried(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("create", code=500, msg="Server error")
    with pytest.raises(KieServerError):
        await client.create_task(FAMILY_CASES["veo"][0])
    assert len(sim.requests_to("/api/v1/veo/generate")) == 1


@pytest.mark.parametrize("garbled", ["html", "truncated", "no-envelope", "no-task-id"])
async def test_create_with_garbled_2xx_answer_is_outcome_unknown(
    client: KieClient, sim: KieSimulator, garbled: str
) -> None:
    """HTTP 200 with a body that is not a KIE envelope: the task may exist, so it is not a plain
    failure and it is never resent."""
    sim.faults.inject("create", garbled=garbled, process=True)
    with pytest.raises(KieCreateOutcomeUnknown) as caught:
        await client.create_task(FAMILY_CASES["market"][0])
    assert caught.value.http_status == 200
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1
    assert len(sim.tasks) == 1  # KIE did take it


async def test_create_http_200_with_error_code_is_kies_answer(client: KieClient, sim: KieSimulator) -> None:
    """KIE answers HTTP 200 with the real outcome in the body code (kie-api-2026.md §1.2): that is an
    envelope, not a garbled answer, and the code decides."""
    sim.faults.inject("create", http_status=200, code=422, msg="Please enter callBackUrl.")
    with pytest.raises(KieValidationError) as caught:
        await client.create_task(FAMILY_CASES["market"][0])
    assert not isinstance(caught.value, KieCreateOutcomeUnknown)
    assert caught.value.code == 422 and caught.value.http_status == 200
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1
    assert sim.tasks == {}


async def test_create_is_retried_after_429(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("create", code=429, msg="Too many requests", times=1)
    sim.faults.inject("create", http_status=429, code=429, msg="Too many requests", times=1)
    task_id = await client.create_task(FAMILY_CASES["market"][0])
    assert task_id in sim.tasks
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 3
    assert len(sim.tasks) == 1


async def test_create_is_retried_when_connection_refused(sim: KieSimulator) -> None:
    # Reserve a port with nothing listening; start the simulator there during the first backoff.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    late = KieSimulator(KEY)
    sleeps: list[float] = []

    async def start_during_backoff(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            await late.start("127.0.0.1", port)

    client = KieClient(
        KEY, api_base=f"http://127.0.0.1:{port}", create_retry=FAST_RETRY, sleep=start_during_backoff
    )
    try:
        task_id = await client.create_task(FAMILY_CASES["market"][0])
        assert task_id in late.tasks
        assert len(late.requests_to("/api/v1/jobs/createTask")) == 1
        assert len(sleeps) == 1
    finally:
        await client.aclose()
        await late.stop()


async def test_status_network_error_exhausts_to_typed_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with KieClient(KEY, api_base=f"http://127.0.0.1:{port}", retry=FAST_RETRY) as client:
        with pytest.raises(KieNetworkError) as caught:
            await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "t"}))
    assert caught.value.user_message_key == "kie_unreachable"
    assert KEY not in str(caught.value)


# ---------------------------------------------------------------------------- error mapping


async def test_bad_key_is_auth_error(make_client: Builder) -> None:
    client = await make_client(api_key="wrong-key")
    with pytest.raises(KieAuthError) as caught:
        await client.get_credit()
    assert (caught.value.code, caught.value.operator_message_key) == (401, "kie_bad_key")
    assert "wrong-key" not in str(caught.value)


async def test_empty_balance_is_insufficient_credits(client: KieClient, sim: KieSimulator) -> None:
    sim.balance = 10
    with pytest.raises(KieInsufficientCredits) as caught:
        await client.create_task(FAMILY_CASES["market"][0])
    assert caught.value.operator_message_key == "kie_balance_empty"
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1


async def test_validation_error_carries_kie_message(client: KieClient) -> None:
    bad = CreateRequest(
        "/api/v1/runway/generate", {"prompt": "x", "duration": 10, "quality": "1080p", "aspectRatio": "16:9"}
    )
    with pytest.raises(KieValidationError) as caught:
        await client.create_task(bad)
    assert "1080p is only available for 5-second videos" in caught.value.kie_message
    unknown = CreateRequest("/api/v1/jobs/createTask", {"model": "sora-9", "input": {"prompt": "x"}})
    with pytest.raises(KieValidationError, match="The page does not exist"):
        await client.create_task(unknown)


@pytest.mark.parametrize(
    ("code", "error_class", "user_key"),
    [
        (455, KieMaintenance, "kie_maintenance"),
        (501, KieGenerationFailed, "kie_generation_failed"),
        (505, KieFeatureDisabled, "kie_feature_disabled"),
        (429, KieRateLimited, "kie_busy"),
    ],
)
async def test_body_codes_map_to_typed_errors(
    client: KieClient, sim: KieSimulator, code: int, error_class: type[KieError], user_key: str
) -> None:
    sim.faults.inject("credit", code=code, msg=f"simulated {code}", times=None)
    with pytest.raises(error_class) as caught:
        await client.get_credit()
    assert caught.value.user_message_key == user_key


def test_error_from_answer_reads_both_status_and_body() -> None:
    assert error_from_answer(200, {"code": 200, "msg": "success", "data": 1}) is None
    assert error_from_answer(200, {"code": "200", "message": "ok", "data": 1}) is None
    limited = error_from_answer(429, None)
    assert isinstance(limited, KieRateLimited) and limited.http_status == 429
    not_found = error_from_answer(200, {"code": "422", "message": "recordInfo is null"})
    assert isinstance(not_found, KieTaskNotFound) and not_found.kie_message == "recordInfo is null"
    assert isinstance(error_from_answer(200, {"code": 422, "msg": "record is null"}), KieTaskNotFound)
    assert isinstance(error_from_answer(200, "<html>"), KieServerError)
    assert isinstance(error_from_answer(503, {"code": 200}), KieServerError)
    echoed = error_from_answer(200, {"code": 422, "msg": f"bad key {KEY} for bot123456:{'A' * 35}"}, [KEY])
    assert echoed is not None and KEY not in str(echoed) and "A" * 35 not in str(echoed)


async def test_key_never_appears_in_errors(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("status", code=422, msg=f"invalid Authorization Bearer {KEY}", times=1)
    with pytest.raises(KieValidationError) as caught:
        await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "x"}))
    assert KEY not in str(caught.value) and KEY not in caught.value.kie_message


# ---------------------------------------------------------------------------- rate limiting


async def test_burst_of_100_creates_gets_no_429(
    sim: KieSimulator, make_client: Builder
) -> None:
    limit, window_s = 10, 0.2
    sim.create_limit, sim.create_window_s = limit, window_s
    client = await make_client(
        create_limiter=SlidingWindowLimiter(limit, window_s, safety_margin_s=0.01),
        create_retry=RetryPolicy(attempts=1),
    )
    body = FAMILY_CASES["market"][0]
    started = time.monotonic()
    task_ids = await asyncio.gather(*(client.create_task(body) for _ in range(100)))
    elapsed = time.monotonic() - started
    assert len(set(task_ids)) == 100
    assert sim.rate_limited["create"] == 0
    # 100 creates need 9 full windows after the first batch: faster would have overrun the limit.
    # How close to the limit it keeps pace is a speed figure: bench/bench_kie_client.py measures it.
    assert elapsed >= (100 / limit - 1) * window_s


async def test_status_limiter_keeps_polls_under_10_per_second(
    sim: KieSimulator, make_client: Builder
) -> None:
    client = await make_client(status_limiter=SlidingWindowLimiter.per_second(10, safety_margin_s=0.01))
    task_id = await client.create_task(FAMILY_CASES["market"][0])
    req = StatusRequest("/api/v1/jobs/recordInfo", {"taskId": task_id})
    started = time.monotonic()
    await asyncio.gather(*(client.get_status(req) for _ in range(15)))
    assert time.monotonic() - started >= 1.0
    assert sim.rate_limited["status"] == 0


# ---------------------------------------------------------------------------- uploads, credit, downloads


async def test_upload_bytes_and_stream(client: KieClient, sim: KieSimulator) -> None:
    url = await client.upload_file(b"\x89PNG-bytes", "cat.png", "image/png")
    assert url == f"{sim.base_url}/files/telegram-inputs/cat.png"

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"first-", b"second-", b"third"):
            yield part

    streamed = await client.upload_file(chunks(), "voice.ogg", "audio/ogg", upload_path="/audio/")
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(url)).content == b"\x89PNG-bytes"
        served = await plain.get(streamed)
    assert served.content == b"first-second-third"
    assert served.headers["Content-Type"] == "audio/ogg"
    form = sim.requests_to("/api/file-stream-upload")[1].form
    assert form == {"uploadPath": "audio", "fileName": "voice.ogg"}


async def test_upload_is_retried_for_bytes(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("upload", http_status=502)
    assert await client.upload_file(b"x", "a.jpg", "image/jpeg")
    assert len(sim.requests_to("/api/file-stream-upload")) == 2


async def test_credit(client: KieClient, sim: KieSimulator) -> None:
    sim.balance = 1234
    assert await client.get_credit() == 1234


async def test_credit_is_an_exact_decimal(client: KieClient, sim: KieSimulator) -> None:
    """KIE answered `"data": 5916.25` in recorded traffic (kie-api-2026.md §1.2 item 4)."""
    sim.balance = Decimal("5916.25")
    balance = await client.get_credit()
    assert isinstance(balance, Decimal) and balance == Decimal("5916.25")


async def test_http_200_with_body_429_is_retried_on_status_upload_and_credit(
    client: KieClient, sim: KieSimulator
) -> None:
    """Over-limit answers come as HTTP 200 with code 429 in the body; every idempotent call waits and
    tries again (the status, upload and credit calls alike)."""
    task_id = await client.create_task(FAMILY_CASES["market"][0])
    for endpoint in ("status", "upload", "credit"):
        sim.faults.inject(endpoint, http_status=200, code=429, msg="Too many requests", times=1)
    await client.get_status(StatusRequest("/api/v1/jobs/recordInfo", {"taskId": task_id}))
    assert await client.upload_file(b"x", "a.jpg", "image/jpeg")
    await client.get_credit()
    assert len(sim.requests_to("/api/v1/jobs/recordInfo")) == 2
    assert len(sim.requests_to("/api/file-stream-upload")) == 2
    assert len(sim.requests_to("/api/v1/chat/credit")) == 2
    assert client.stats.rate_limited_answers == 3


async def test_http_200_with_body_422_is_refused_without_retry(client: KieClient, sim: KieSimulator) -> None:
    sim.faults.inject("download_url", http_status=200, code=422, msg="url is wrong", times=None)
    sim.faults.inject("upload", http_status=200, code=422, msg="uploadPath is required", times=None)
    with pytest.raises(KieValidationError, match="url is wrong"):
        await client.get_download_url("https://elsewhere.example/v.mp4")
    with pytest.raises(KieValidationError, match="uploadPath is required"):
        await client.upload_file(b"x", "a.jpg", "image/jpeg")
    assert len(sim.requests_to("/api/v1/common/download-url")) == 1
    assert len(sim.requests_to("/api/file-stream-upload")) == 1


async def test_status_limit_scope_key_shares_one_limiter_task_gives_one_per_task() -> None:
    per_key = KieClient(KEY, status_rps=3)
    per_task = KieClient(KEY, status_rps=3, status_limit_scope="task")
    try:
        a = StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "a"})
        b = StatusRequest("/api/v1/jobs/recordInfo", {"taskId": "b"})
        assert per_key._status_limiter_for(a) is per_key._status_limiter_for(b) is per_key.status_limiter
        assert per_key.account_limiter is per_key.status_limiter
        task_a = per_task._status_limiter_for(a)
        assert task_a is per_task._status_limiter_for(a)
        assert task_a is not per_task._status_limiter_for(b)
        assert isinstance(task_a, SlidingWindowLimiter) and task_a.limit == 3
        assert per_task.account_limiter is not per_task.status_limiter
        with pytest.raises(ValueError, match="status_limit_scope"):
            KieClient(KEY, status_limit_scope="account")
    finally:
        await per_key.aclose()
        await per_task.aclose()


async def test_download_result_and_size_cap(client: KieClient, sim: KieSimulator, tmp_path: Path) -> None:
    task_id = await client.create_task(FAMILY_CASES["market"][0])
    await sim.wait_final(task_id)
    dest = tmp_path / "video.mp4"
    size = await client.download(sim.result_url(task_id), dest, max_bytes=1024 * 1024)
    expected = (MEDIA_DIR / "16x9_silent.mp4").read_bytes()
    assert size == len(expected) and dest.read_bytes() == expected
    # The result host must never see the KIE key.
    result_requests = [r for r in sim.requests if r.path.startswith("/results/")]
    assert result_requests and all("Authorization" not in r.headers for r in result_requests)

    with pytest.raises(KieDownloadTooLarge):
        await client.download(sim.result_url(task_id), tmp_path / "small.mp4", max_bytes=1000)
    assert list(tmp_path.iterdir()) == [dest]


async def test_large_result_streams_to_disk(client: KieClient, sim: KieSimulator, tmp_path: Path) -> None:
    body = {"model": "kling/v2-5-turbo-text-to-video-pro", "input": {"prompt": "fox [sim:large=8]"}}
    task_id = await client.create_task(CreateRequest("/api/v1/jobs/createTask", body))
    await sim.wait_final(task_id)
    size = await client.download(sim.result_url(task_id), tmp_path / "big.mp4", max_bytes=20 * 1024 * 1024)
    assert size == 8 * 1024 * 1024 == (tmp_path / "big.mp4").stat().st_size
    with pytest.raises(KieDownloadTooLarge) as caught:
        await client.download(sim.result_url(task_id), tmp_path / "cap.mp4", max_bytes=5 * 1024 * 1024)
    assert caught.value.user_message_key == "kie_result_too_large"


async def test_size_cap_without_content_length(tmp_path: Path) -> None:
    """A chunked answer (no Content-Length) is cut off as soon as it passes the cap."""
    seen_headers: list[dict[str, str]] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        seen_headers.append(dict(request.headers))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v.mp4", endless)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with KieClient(KEY, fetch_allow=(f"127.0.0.1:{port}",)) as client:
            with pytest.raises(KieDownloadTooLarge):
                await client.download(f"http://127.0.0.1:{port}/v.mp4", tmp_path / "v.mp4", max_bytes=10_000)
    finally:
        await runner.cleanup()
    assert list(tmp_path.iterdir()) == []
    assert seen_headers and "Authorization" not in seen_headers[0]


async def test_expired_result_then_fresh_link(client: KieClient, sim: KieSimulator, tmp_path: Path) -> None:
    body = {"model": "kling/v2-5-turbo-text-to-video-pro", "input": {"prompt": "fox [sim:expired]"}}
    task_id = await client.create_task(CreateRequest("/api/v1/jobs/createTask", body))
    await sim.wait_final(task_id)
    with pytest.raises(KieResultExpired):
        await client.download(sim.result_url(task_id), tmp_path / "v.mp4", max_bytes=10**6)
    fresh = await client.get_download_url(sim.result_url(task_id))
    assert await client.download(fresh, tmp_path / "v.mp4", max_bytes=10**6) > 0


async def test_from_settings_reads_limits() -> None:
    class FakeSecret:
        def get_secret_value(self) -> str:
            return KEY

    class FakeSettings:
        kie_api_key = FakeSecret()
        kie_api_base = "https://api.kie.ai/"
        kie_upload_base = "https://kieai.redpandaai.co"
        kie_create_limit = 7
        kie_create_window_s = 3.0
        kie_status_rps = 4.0
        kie_status_limit_scope = "task"
        kie_discovery_rps = 0.5
        result_fetch_allow_hosts = ("127.0.0.1:8081",)

    client = KieClient.from_settings(FakeSettings())
    try:
        assert client.api_base == "https://api.kie.ai"
        assert client.url_guard.allow == {("127.0.0.1", 8081)}
        assert isinstance(client.create_limiter, SlidingWindowLimiter)
        assert (client.create_limiter.limit, client.create_limiter.window_s) == (7, 3.0)
        assert isinstance(client.status_limiter, SlidingWindowLimiter)
        assert client.status_limiter.limit == 4
        assert client.status_limit_scope == "task"
        assert isinstance(client.discovery_limiter, SlidingWindowLimiter)
        assert (client.discovery_limiter.limit, client.discovery_limiter.window_s) == (1, 2.0)
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------- catalog + adapters end to end
# Every catalog entry, mode, option set and ratio goes through its family adapter, the client and the
# simulator's own rule table: a catalog or adapter mistake shows up here as KIE's 422.

CATALOG: Catalog = build_catalog()
ENTRY_MODES = [(entry.key, mode) for entry in CATALOG.offerable() for mode in entry.modes]
INPUT_FILES = {"image": ("jpg", "image/jpeg"), "audio": ("mp3", "audio/mpeg"), "video": ("mp4", "video/mp4")}


@pytest.fixture
async def callback_sink() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/kie/callback/{token}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/kie/callback/tok", received
    await runner.cleanup()


def orders_for(entry: ModelEntry, mode: str, sim: KieSimulator) -> list[Order]:
    spec = entry.mode_spec(mode)
    inputs = {}
    for rule in spec.inputs:
        ext, mime = INPUT_FILES[rule.kind.value]
        inputs[rule.kind.value] = tuple(
            sim.add_file(f"telegram-inputs/{rule.kind.value}{i}.{ext}", b"bytes", mime)
            for i in range(rule.count)
        )
    return [
        Order(entry.key, mode, ratio, options, "A lighthouse in a storm, waves crashing", inputs)
        for options in spec.option_sets()
        for ratio in (spec.ratios or (None,))
    ]


@pytest.mark.parametrize(("model_key", "mode"), ENTRY_MODES, ids=[f"{k}-{m}" for k, m in ENTRY_MODES])
async def test_every_catalog_order_is_accepted_and_parsed(
    model_key: str, mode: str, callback_sink: tuple[str, list[dict[str, Any]]]
) -> None:
    callback_url, received = callback_sink
    entry = CATALOG.get(model_key)
    assert entry is not None
    adapter = adapter_for(entry.family)
    async with KieSimulator(
        KEY, timings=SimTimings.manual(), create_limit=10_000, status_limit_per_s=None,
        require_uploaded_inputs=True,
    ) as simulator:
        client = KieClient(KEY, api_base=simulator.base_url, create_limiter=Unlimited(),
                           status_limiter=Unlimited(), retry=FAST_RETRY, create_retry=FAST_RETRY)
        try:
            task_ids: list[str] = []
            for order in orders_for(entry, mode, simulator):
                entry.validate(order)
                req = adapter.build_create(entry, order, callback_url)
                try:
                    task_id = await client.create_task(req)
                except KieError as exc:
                    pytest.fail(f"{order.options} {order.ratio}: KIE refused {req.body}: {exc}")
                if order.ratio is not None:
                    # The ratio must actually reach KIE (a misnamed field would be ignored there).
                    assert simulator.tasks[task_id].media.ratio == ratio_name(order.ratio), req.body
                task_ids.append(task_id)
            for task_id in task_ids:
                running = adapter.parse_status(await client.get_status(adapter.status_request(task_id)))
                assert running.state in (TaskState.PENDING, TaskState.RUNNING)
                simulator.complete(task_id)
                done = adapter.parse_status(await client.get_status(adapter.status_request(task_id)))
                assert done.state is TaskState.SUCCEEDED
                assert simulator.result_url(task_id) in done.video_urls
            await simulator.wait_callbacks(len(task_ids))
            for body in received:
                result = adapter.parse_callback(body)
                assert result.state is TaskState.SUCCEEDED
                assert result.task_id in task_ids
                assert simulator.result_url(result.task_id) in result.video_urls
            assert simulator.telegram_leaks() == []
        finally:
            await client.aclose()


@pytest.mark.parametrize("family", list(Family))
async def test_failures_are_parsed_for_every_family(
    family: Family, callback_sink: tuple[str, list[dict[str, Any]]]
) -> None:
    callback_url, received = callback_sink
    entry = next(e for e in CATALOG.offerable() if e.family == family)
    mode = next(iter(entry.modes))
    adapter = adapter_for(family)
    async with KieSimulator(KEY, timings=SimTimings.manual(), status_limit_per_s=None) as simulator:
        client = KieClient(KEY, api_base=simulator.base_url, retry=FAST_RETRY, status_limiter=Unlimited())
        try:
            order = orders_for(entry, mode, simulator)[0]
            task_id = await client.create_task(adapter.build_create(entry, order, callback_url))
            simulator.fail(task_id, 500, "Internal server error")
            result = adapter.parse_status(await client.get_status(adapter.status_request(task_id)))
            assert result.state is TaskState.FAILED
            await simulator.wait_callbacks(1)
            assert adapter.parse_callback(received[0]).state is TaskState.FAILED
        finally:
            await client.aclose()
