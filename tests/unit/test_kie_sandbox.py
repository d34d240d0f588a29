"""The KIE simulator itself: rules, answers, state machines, callbacks, media, uploads, faults.

Requests are sent with plain httpx so these tests do not depend on bot/kie/client.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.kie.sandbox import KieSimulator, SimTimings, start_sandbox
from bot.kie.sandbox.make_media import CLIP_SIZES, clip_path
from bot.kie.sandbox.rules import MARKET_MODELS
from bot.kie.sandbox.simulator import MEDIA_DIR
from bot.kie.webhook_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

KEY = "test-kie-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class CallbackReceiver:
    """A tiny aiohttp server standing in for the bot's /kie/callback endpoint."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail_first = 0  # answer 500 to this many requests first
        self.always_status: int | None = None
        self.delay_s = 0.0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.always_status is not None:
            return web.Response(status=self.always_status)
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/kie/callback/{token}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/kie/callback/secret-token"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    simulator = KieSimulator(
        KEY, timings=SimTimings(wait_s=0.01, queue_s=0.01, generate_s=0.03, callback_retry_delay_s=0.01)
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def http(sim: KieSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    server = CallbackReceiver()
    await server.start()
    yield server
    await server.stop()


def market(model: str, **params: Any) -> dict[str, Any]:
    return {"model": model, "input": params}


async def create(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await http.post(path, json=body, headers=AUTH if headers is None else headers)
    return response.json()


async def status(http: httpx.AsyncClient, path: str, task_id: str) -> dict[str, Any]:
    response = await http.get(path, params={"taskId": task_id}, headers=AUTH)
    return response.json()


SORA = market("sora-2-text-to-video", prompt="a cat", aspect_ratio="portrait", n_frames="10")


# ---------------------------------------------------------------------------- auth, credit, limits


async def test_bad_key_is_401_everywhere(http: httpx.AsyncClient) -> None:
    bad = {"Authorization": "Bearer wrong"}
    assert (await create(http, "/api/v1/jobs/createTask", SORA, headers=bad))["code"] == 401
    assert (await create(http, "/api/v1/jobs/createTask", SORA, headers={}))["code"] == 401
    answer = (await http.get("/api/v1/chat/credit", headers=bad)).json()
    assert answer == {"code": 401, "msg": "You do not have access permissions", "data": None}
    upload = await http.post(
        "/api/file-base64-upload", headers=bad, json={"base64Data": "aGk=", "uploadPath": "x"}
    )
    assert upload.json()["code"] == 401


async def test_credit_is_charged_on_success_only(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.balance = 100
    ok = await create(http, "/api/v1/jobs/createTask", SORA)
    failing = await create(
        http, "/api/v1/jobs/createTask", {**SORA, "input": {**SORA["input"], "prompt": "a cat [sim:fail]"}}
    )
    await sim.wait_final(ok["data"]["taskId"])
    await sim.wait_final(failing["data"]["taskId"])
    credit = (await http.get("/api/v1/chat/credit", headers=AUTH)).json()
    assert credit == {"code": 200, "msg": "success", "data": 70}


async def test_insufficient_credits_is_402(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.balance = 29
    answer = await create(http, "/api/v1/jobs/createTask", SORA)
    assert answer["code"] == 402
    assert not sim.tasks


async def test_create_rate_limit_is_429_in_the_body(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.create_limit = 5
    codes = []
    for _ in range(7):
        response = await http.post("/api/v1/jobs/createTask", json=SORA, headers=AUTH)
        codes.append((response.status_code, response.json()["code"]))
    assert codes == [(200, 200)] * 5 + [(200, 429)] * 2
    assert sim.rate_limited["create"] == 2
    assert len(sim.tasks) == 5


async def test_429_can_be_mirrored_as_http_status() -> None:
    async with (
        KieSimulator(KEY, create_limit=1, mirror_http_status={429}) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        await client.post("/api/v1/jobs/createTask", json=SORA, headers=AUTH)
        second = await client.post("/api/v1/jobs/createTask", json=SORA, headers=AUTH)
    assert second.status_code == 429
    assert second.json()["code"] == 429


async def test_status_rate_limit(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    answers = await asyncio.gather(*(status(http, "/api/v1/jobs/recordInfo", task_id) for _ in range(12)))
    assert sorted(a["code"] for a in answers) == [200] * 10 + [429] * 2


async def test_unknown_task_id(http: httpx.AsyncClient) -> None:
    assert await status(http, "/api/v1/jobs/recordInfo", "nope") == {
        "code": 422,
        "msg": "recordInfo is null",
        "data": None,
    }
    assert (await status(http, "/api/v1/veo/record-info", "nope"))["msg"] == "record is null"
    assert (await status(http, "/api/v1/runway/record-detail", "nope"))["code"] == 422


# ---------------------------------------------------------------------------- validation (422)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/api/v1/jobs/createTask",
            market("sora-3", prompt="x"),
            "The page does not exist or is not published",
        ),
        (
            "/api/v1/jobs/createTask",
            market("sora-2-text-to-video", prompt="x", aspect_ratio="16:9"),
            "input.aspect_ratio must be one of",
        ),
        (
            "/api/v1/jobs/createTask",
            market("sora-2-text-to-video", aspect_ratio="portrait"),
            "input.prompt is required",
        ),
        (
            "/api/v1/jobs/createTask",
            market("kling/v2-5-turbo-text-to-video-pro", prompt="x" * 2501),
            "input.prompt exceeds the maximum length of 2500",
        ),
        (
            "/api/v1/jobs/createTask",
            market("kling/v2-5-turbo-text-to-video-pro", prompt="x", duration=5),
            "input.duration must be a string",
        ),
        (
            "/api/v1/jobs/createTask",
            market("kling/v2-5-turbo-text-to-video-pro", prompt="x", aspectRatio="1:1"),
            "input.aspectRatio is not a parameter",
        ),
        (
            "/api/v1/jobs/createTask",
            {**market("wan/2-5-text-to-video", prompt="x", duration="5"), "aspect_ratio": "16:9"},
            "aspect_ratio is not a createTask field",
        ),
        (
            "/api/v1/jobs/createTask",
            market(
                "hailuo/2-3-image-to-video-pro",
                prompt="x",
                image_url="https://h/i.png",
                duration="10",
                resolution="1080P",
            ),
            "1080P resolution does not support 10 second videos",
        ),
        (
            "/api/v1/jobs/createTask",
            market("wan/2-2-a14b-speech-to-video-turbo", prompt="x", image_url="https://h/i.png"),
            "input.audio_url is required",
        ),
        (
            "/api/v1/jobs/createTask",
            {
                **market(
                    "kling-2.6/text-to-video", prompt="x", sound=False, aspect_ratio="1:1", duration="5"
                ),
                "progressCallBackUrl": "https://h/p",
            },
            "progressCallBackUrl",
        ),
        (
            "/api/v1/runway/generate",
            {"prompt": "x", "duration": 10, "quality": "1080p", "aspectRatio": "16:9"},
            "1080p is only available for 5-second videos",
        ),
        (
            "/api/v1/runway/generate",
            {"prompt": "x", "duration": 5, "quality": "720p"},
            "aspectRatio is required",
        ),
        (
            "/api/v1/runway/generate",
            {"prompt": "x" * 1801, "duration": 5, "quality": "720p", "aspectRatio": "16:9"},
            "prompt exceeds the maximum length of 1800",
        ),
        ("/api/v1/veo/generate", {"prompt": "x", "model": "veo3_turbo"}, "model must be one of"),
        (
            "/api/v1/veo/generate",
            {
                "prompt": "x",
                "model": "veo3",
                "generationType": "REFERENCE_2_VIDEO",
                "imageUrls": ["https://h/i.png"],
            },
            "only supported by veo3_fast",
        ),
        ("/api/v1/aleph/generate", {"prompt": "x"}, "videoUrl is required"),
        (
            "/api/v1/modify/generate",
            {"prompt": "сделай ночь", "videoUrl": "https://h/v.mp4"},
            "Prompts only support English",
        ),
    ],
)
async def test_invalid_creates_are_422(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], message: str
) -> None:
    answer = await create(http, path, body)
    assert answer["code"] == 422
    assert message in answer["msg"]


async def test_non_strict_mode_ignores_unknown_parameters() -> None:
    async with (
        KieSimulator(KEY, strict=False) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        answer = await create(
            client,
            "/api/v1/jobs/createTask",
            market("kling/v2-5-turbo-text-to-video-pro", prompt="x", extra=1),
        )
    assert answer["code"] == 200


async def test_inputs_must_be_uploaded_when_required() -> None:
    async with KieSimulator(KEY, require_uploaded_inputs=True) as simulator:
        own = simulator.add_file("telegram-inputs/cat.png", b"png", "image/png")
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            foreign = await create(
                client,
                "/api/v1/jobs/createTask",
                market(
                    "kling-2.6/image-to-video",
                    prompt="x",
                    image_urls=["https://elsewhere/cat.png"],
                    sound=False,
                    duration="5",
                ),
            )
            uploaded = await create(
                client,
                "/api/v1/jobs/createTask",
                market("kling-2.6/image-to-video", prompt="x", image_urls=[own], sound=False, duration="5"),
            )
    assert foreign["code"] == 422
    assert uploaded["code"] == 200


def test_every_documented_market_model_has_a_rule() -> None:
    for model_id in (
        "sora-2-pro-image-to-video",
        "kling/ai-avatar-pro",
        "hailuo/02-image-to-video-standard",
        "wan/2-5-image-to-video",
        "bytedance/v1-pro-fast-image-to-video",
        "bytedance/seedance-1.5-pro",
    ):
        assert model_id in MARKET_MODELS
    assert "wan/2-5-speech-to-video" not in MARKET_MODELS  # not a KIE model (kie-api.md §10)


# ---------------------------------------------------------------------------- state machines


# Long phases, moved through by turning the task's clock back one phase at a time: the states are
# seen in order however slow the machine is (timed 0.3 s phases were missed under CI load).
PHASE_S = 100.0
STEPPED = SimTimings(wait_s=PHASE_S, queue_s=PHASE_S, generate_s=PHASE_S, auto_complete=False)


async def step_states(
    simulator: KieSimulator, http: httpx.AsyncClient, path: str, task_id: str, key: str
) -> list[Any]:
    """The task's state in each phase (waiting, queued, generating), then after it completes."""
    seen: list[Any] = []
    for _ in range(3):
        seen.append((await status(http, path, task_id))["data"][key])
        simulator.tasks[task_id].created_mono -= PHASE_S
    simulator.complete(task_id)
    seen.append((await status(http, path, task_id))["data"][key])
    return seen


async def test_market_states_and_sora_progress() -> None:
    simulator = KieSimulator(KEY, timings=STEPPED, status_limit_per_s=None)
    await simulator.start()
    try:
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            task_id = (await create(client, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
            states = await step_states(simulator, client, "/api/v1/jobs/recordInfo", task_id, "state")
            data = (await status(client, "/api/v1/jobs/recordInfo", task_id))["data"]
    finally:
        await simulator.stop()
    assert states == ["waiting", "queuing", "generating", "success"]
    assert data["progress"] == 100
    # `param` is JSON text whose `input` is JSON text again (kie-api-2026.md §1.2 item 7).
    param = json.loads(data["param"])
    assert {**param, "input": json.loads(param["input"])} == SORA
    result = json.loads(data["resultJson"])
    assert result["resultUrls"][0].endswith(f"/results/{task_id}/video.mp4")
    assert "resultWaterMarkUrls" in result
    assert data["failCode"] is None and data["failMsg"] is None
    assert isinstance(data["createTime"], int) and isinstance(data["completeTime"], int)


KLING = market("kling/v2-5-turbo-text-to-video-pro", prompt="a fox", duration="5", aspect_ratio="16:9")


async def test_market_record_has_the_2026_fields() -> None:
    """kie-api-2026.md §1.2 items 5-7: resultJson "" while waiting (and the fail/cost fields null);
    `response` = resultJson parsed; successFlag 0/1/3; creditsConsumed a float; costTime in seconds."""
    simulator = KieSimulator(KEY, timings=SimTimings.manual(), status_limit_per_s=None)
    await simulator.start()
    try:
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            ok_id = (await create(client, "/api/v1/jobs/createTask", KLING))["data"]["taskId"]
            bad_id = (await create(client, "/api/v1/jobs/createTask", KLING))["data"]["taskId"]
            waiting = (await status(client, "/api/v1/jobs/recordInfo", ok_id))["data"]
            simulator.complete(ok_id)
            simulator.fail(bad_id, 501, "boom")
            done = (await status(client, "/api/v1/jobs/recordInfo", ok_id))["data"]
            failed = (await status(client, "/api/v1/jobs/recordInfo", bad_id))["data"]
    finally:
        await simulator.stop()
    assert waiting["resultJson"] == "" and waiting["response"] is None and waiting["successFlag"] == 0
    for name in ("failCode", "failMsg", "costTime", "completeTime", "creditsConsumed"):
        assert waiting[name] is None, name
    assert done["successFlag"] == 1
    assert done["response"] == json.loads(done["resultJson"])
    assert done["creditsConsumed"] == 42.0 and isinstance(done["creditsConsumed"], float)
    # Seconds, not milliseconds: the task finished within a second or two of its creation.
    assert isinstance(done["costTime"], int) and 0 <= done["costTime"] < 60
    assert (done["completeTime"] - done["createTime"]) < 60_000
    assert failed["successFlag"] == 3 and failed["state"] == "fail" and failed["creditsConsumed"] == 0.0
    assert failed["response"] is None and failed["resultJson"] == ""


async def test_credit_balance_is_a_decimal_on_the_wire(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.balance = Decimal("5916.25")
    answer = await http.get("/api/v1/chat/credit", headers=AUTH)
    assert answer.status_code == 200
    assert '"data": 5916.25' in answer.text


async def test_uploads_are_gone_after_24_hours(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    upload = await http.post(
        "/api/file-base64-upload", headers=AUTH,
        json={"base64Data": "aGk=", "uploadPath": "in", "fileName": "a.jpg"},
    )
    info = upload.json()["data"]
    assert (await http.get(info["downloadUrl"])).status_code == 200
    key = info["filePath"]
    sim.files[key].uploaded_at -= 24 * 3600 + 1
    assert (await http.get(info["downloadUrl"])).status_code == 404


async def test_runway_states_use_wait_and_queueing() -> None:
    simulator = KieSimulator(KEY, timings=STEPPED, status_limit_per_s=None)
    await simulator.start()
    try:
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            task_id = (
                await create(
                    client,
                    "/api/v1/runway/generate",
                    {"prompt": "x", "duration": 5, "quality": "720p", "aspectRatio": "9:16"},
                )
            )["data"]["taskId"]
            states = await step_states(simulator, client, "/api/v1/runway/record-detail", task_id, "state")
            data = (await status(client, "/api/v1/runway/record-detail", task_id))["data"]
    finally:
        await simulator.stop()
    assert states == ["wait", "queueing", "generating", "success"]
    assert data["videoInfo"]["videoUrl"].endswith("/video.mp4")
    assert data["expireFlag"] == 0


async def test_manual_completion_and_failure_flags() -> None:
    async with (
        KieSimulator(KEY, timings=SimTimings.manual()) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        veo = (await create(client, "/api/v1/veo/generate", {"prompt": "x"}))["data"]["taskId"]
        veo2 = (await create(client, "/api/v1/veo/generate", {"prompt": "x"}))["data"]["taskId"]
        aleph = (
            await create(client, "/api/v1/aleph/generate", {"prompt": "x", "videoUrl": "https://h/v.mp4"})
        )["data"]["taskId"]
        assert (await status(client, "/api/v1/veo/record-info", veo))["data"]["successFlag"] == 0
        await asyncio.sleep(0.05)
        assert simulator.tasks[veo].outcome is None  # manual: stays running
        simulator.fail(veo, 400, "content policy")
        simulator.fail(veo2, 500, "internal", flag=2)
        simulator.fail(aleph, 400, "bad video")
        veo_data = (await status(client, "/api/v1/veo/record-info", veo))["data"]
        veo2_data = (await status(client, "/api/v1/veo/record-info", veo2))["data"]
        aleph_data = (await status(client, "/api/v1/aleph/record-detail", aleph))["data"]
    assert (veo_data["successFlag"], veo_data["errorCode"], veo_data["errorMessage"]) == (
        3,
        400,
        "content policy",
    )
    assert veo2_data["successFlag"] == 2
    # Aleph: 0 means failed too; only errorCode/errorMessage tell it apart from "running".
    assert (aleph_data["successFlag"], aleph_data["errorCode"]) == (0, 400)


async def test_record_visibility_delay(http: httpx.AsyncClient, sim: KieSimulator) -> None:
    sim.timings.visible_after_s = 0.2
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    assert (await status(http, "/api/v1/jobs/recordInfo", task_id))["msg"] == "recordInfo is null"


# ---------------------------------------------------------------------------- callbacks


async def test_callback_shapes_and_hmac(receiver: CallbackReceiver) -> None:
    bodies = {
        "veo": ("/api/v1/veo/generate", {"prompt": "x", "aspectRatio": "9:16"}),
        "runway": (
            "/api/v1/runway/generate",
            {"prompt": "x", "duration": 5, "quality": "720p", "aspectRatio": "16:9"},
        ),
        "aleph": ("/api/v1/aleph/generate", {"prompt": "x", "videoUrl": "https://h/v.mp4"}),
        "modify": ("/api/v1/modify/generate", {"prompt": "x", "videoUrl": "https://h/v.mp4"}),
        "market": ("/api/v1/jobs/createTask", SORA),
    }
    async with (
        KieSimulator(KEY, hmac_key="hk", timings=SimTimings.instant()) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        ids = {}
        for family, (path, body) in bodies.items():
            ids[family] = (await create(client, path, {**body, "callBackUrl": receiver.url}))["data"][
                "taskId"
            ]
        await simulator.wait_callbacks(5)
        await simulator.idle()
    by_task = {callback.task_id: callback for callback in simulator.callbacks}
    assert len(receiver.received) == 5
    for headers, body in receiver.received:
        task_id = body.get("taskId") or (body["data"] or {}).get("taskId") or body["data"].get("task_id")
        assert verify_signature("hk", task_id, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]).ok
        assert by_task[task_id].delivered
    veo = by_task[ids["veo"]].body
    assert veo["msg"] == "Veo3.1 video generated successfully."
    assert veo["data"]["info"]["resultUrls"] and veo["data"]["info"]["originUrls"]
    runway = by_task[ids["runway"]].body["data"]
    assert set(runway) == {"task_id", "video_id", "video_url", "image_url"}
    aleph = by_task[ids["aleph"]].body
    assert aleph["taskId"] == ids["aleph"] and set(aleph["data"]) == {"result_video_url", "result_image_url"}
    modify = by_task[ids["modify"]].body
    assert modify["msg"] == "Modify record generated successfully." and modify["data"]["resultUrls"]
    market_body = by_task[ids["market"]].body
    assert market_body["msg"] == "Playground task completed successfully."
    assert market_body["data"]["state"] == "success" and market_body["data"]["failCode"] is None


async def test_failure_callbacks(receiver: CallbackReceiver) -> None:
    async with (
        KieSimulator(KEY, timings=SimTimings.instant()) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        await create(
            client,
            "/api/v1/jobs/createTask",
            {**SORA, "callBackUrl": receiver.url, "input": {**SORA["input"], "prompt": "x [sim:fail]"}},
        )
        await create(
            client,
            "/api/v1/aleph/generate",
            {
                "prompt": "x [sim:fail=400:Video not reachable]",
                "videoUrl": "https://h/v.mp4",
                "callBackUrl": receiver.url,
            },
        )
        await simulator.wait_callbacks(2)
    bodies = sorted((body for _, body in receiver.received), key=lambda b: "taskId" in b)
    market_body, aleph_body = bodies
    assert market_body["code"] == 501 and market_body["msg"] == "Playground task failed."
    assert market_body["data"]["state"] == "fail" and market_body["data"]["resultJson"] is None
    assert aleph_body == {
        "code": 400,
        "msg": "Video not reachable",
        "data": None,
        "taskId": aleph_body["taskId"],
    }


async def test_callback_is_retried_until_200(
    receiver: CallbackReceiver, sim: KieSimulator, http: httpx.AsyncClient
) -> None:
    receiver.fail_first = 2
    task_id = (await create(http, "/api/v1/jobs/createTask", {**SORA, "callBackUrl": receiver.url}))["data"][
        "taskId"
    ]
    await sim.wait_callbacks(3)
    await sim.idle()
    attempts = sim.callbacks_for(task_id)
    assert [a.status for a in attempts] == [500, 500, 200]


async def test_callback_gives_up_after_three_retries_and_luma_shows_flag_4(
    receiver: CallbackReceiver, sim: KieSimulator, http: httpx.AsyncClient
) -> None:
    receiver.always_status = 503
    task_id = (
        await create(
            http,
            "/api/v1/modify/generate",
            {"prompt": "x", "videoUrl": "https://h/v.mp4", "callBackUrl": receiver.url},
        )
    )["data"]["taskId"]
    await sim.wait_callbacks(4)
    await sim.idle()
    assert [a.attempt for a in sim.callbacks_for(task_id)] == [1, 2, 3, 4]
    assert (await status(http, "/api/v1/modify/record-info", task_id))["data"]["successFlag"] == 4


async def test_callback_timeout_counts_as_failure(
    receiver: CallbackReceiver, sim: KieSimulator, http: httpx.AsyncClient
) -> None:
    sim.timings.callback_timeout_s = 0.05
    sim.timings.callback_retries = 1
    receiver.delay_s = 0.3
    task_id = (await create(http, "/api/v1/jobs/createTask", {**SORA, "callBackUrl": receiver.url}))["data"][
        "taskId"
    ]
    await sim.wait_callbacks(2)
    await sim.idle()
    attempts = sim.callbacks_for(task_id)
    assert [a.status for a in attempts] == [None, None]
    assert all("Timeout" in (a.error or "") for a in attempts)


async def test_lost_and_duplicated_callbacks(
    receiver: CallbackReceiver, sim: KieSimulator, http: httpx.AsyncClient
) -> None:
    lost = {
        **SORA,
        "callBackUrl": receiver.url,
        "input": {**SORA["input"], "prompt": "x [sim:lose-callback]"},
    }
    twice = {
        **SORA,
        "callBackUrl": receiver.url,
        "input": {**SORA["input"], "prompt": "x [sim:double-callback]"},
    }
    lost_id = (await create(http, "/api/v1/jobs/createTask", lost))["data"]["taskId"]
    twice_id = (await create(http, "/api/v1/jobs/createTask", twice))["data"]["taskId"]
    await sim.wait_final(lost_id)
    await sim.wait_callbacks(2, task_id=twice_id)
    await sim.idle()
    assert sim.callbacks_for(lost_id) == []
    assert [a.delivery for a in sim.callbacks_for(twice_id)] == [1, 2]


async def test_global_faults_apply_to_new_tasks(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.faults.set(fail=(500, "Internal server error"))
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    await sim.wait_final(task_id)
    data = (await status(http, "/api/v1/jobs/recordInfo", task_id))["data"]
    assert (data["state"], data["failCode"], data["failMsg"]) == ("fail", "500", "Internal server error")


async def test_endpoint_faults(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.faults.inject("status", http_status=502)
    sim.faults.inject("status", code=455, msg="maintenance")
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    first = await http.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH)
    second = await status(http, "/api/v1/jobs/recordInfo", task_id)
    third = await status(http, "/api/v1/jobs/recordInfo", task_id)
    assert (first.status_code, first.text) == (502, "upstream error")
    assert second["code"] == 455
    assert third["code"] == 200


async def test_faults_for_one_existing_task(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.timings.auto_complete = False
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    sim.faults.set_for(task_id, expired_result=True, status_errors=[455])
    assert (await status(http, "/api/v1/jobs/recordInfo", task_id))["code"] == 455
    sim.complete(task_id)
    assert (await http.get(sim.result_url(task_id))).status_code == 403
    with pytest.raises(ValueError):
        sim.faults.set_for(task_id, explode=True)


async def test_per_task_status_errors_marker(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    body = {**SORA, "input": {**SORA["input"], "prompt": "x [sim:status-error=500x2]"}}
    task_id = (await create(http, "/api/v1/jobs/createTask", body))["data"]["taskId"]
    codes = [(await status(http, "/api/v1/jobs/recordInfo", task_id))["code"] for _ in range(3)]
    assert codes == [500, 500, 200]


# ---------------------------------------------------------------------------- media and links


@pytest.mark.parametrize(
    ("path", "body", "clip"),
    [
        ("/api/v1/jobs/createTask", SORA, "9x16_audio.mp4"),
        (
            "/api/v1/jobs/createTask",
            market("kling-2.6/text-to-video", prompt="x", sound=False, aspect_ratio="1:1", duration="5"),
            "1x1_silent.mp4",
        ),
        (
            "/api/v1/jobs/createTask",
            market("kling-2.6/text-to-video", prompt="x", sound=True, aspect_ratio="16:9", duration="5"),
            "16x9_audio.mp4",
        ),
        (
            "/api/v1/runway/generate",
            {"prompt": "x", "duration": 5, "quality": "720p", "aspectRatio": "9:16"},
            "9x16_silent.mp4",
        ),
        ("/api/v1/veo/generate", {"prompt": "x", "aspectRatio": "16:9"}, "16x9_audio.mp4"),
    ],
)
async def test_result_video_matches_ratio_and_sound(
    sim: KieSimulator, http: httpx.AsyncClient, path: str, body: dict[str, Any], clip: str
) -> None:
    task_id = (await create(http, path, body))["data"]["taskId"]
    await sim.wait_final(task_id)
    response = await http.get(sim.result_url(task_id))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.content == (MEDIA_DIR / clip).read_bytes()


async def test_expired_result_and_fresh_download_link(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    body = {**SORA, "input": {**SORA["input"], "prompt": "x [sim:expired]"}}
    task_id = (await create(http, "/api/v1/jobs/createTask", body))["data"]["taskId"]
    await sim.wait_final(task_id)
    assert (await http.get(sim.result_url(task_id))).status_code == 403
    minted = (
        await http.post("/api/v1/common/download-url", json={"url": sim.result_url(task_id)}, headers=AUTH)
    ).json()
    assert minted["code"] == 200 and "/dl/" in minted["data"]
    fresh = await http.get(minted["data"])
    assert fresh.status_code == 200 and fresh.content[4:8] == b"ftyp"
    foreign = (
        await http.post(
            "/api/v1/common/download-url", json={"url": "https://example.com/x.mp4"}, headers=AUTH
        )
    ).json()
    assert foreign["code"] == 422


async def test_result_ttl_expires_urls(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    sim.timings.result_ttl_s = 0.05
    task_id = (await create(http, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
    await sim.wait_final(task_id)
    assert (await http.get(sim.result_url(task_id))).status_code == 200
    await asyncio.sleep(0.1)
    assert (await http.get(sim.result_url(task_id))).status_code == 403


async def test_large_result_is_streamed_with_exact_size(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    body = {**SORA, "input": {**SORA["input"], "prompt": "x [sim:large=3]"}}
    task_id = (await create(http, "/api/v1/jobs/createTask", body))["data"]["taskId"]
    await sim.wait_final(task_id)
    total = 0
    async with http.stream("GET", sim.result_url(task_id)) as response:
        assert response.headers["Content-Length"] == str(3 * 1024 * 1024)
        async for chunk in response.aiter_bytes():
            total += len(chunk)
    assert total == 3 * 1024 * 1024


@pytest.mark.ffmpeg
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_committed_clips_have_the_promised_shape() -> None:
    for ratio, (width, height) in CLIP_SIZES.items():
        for with_audio in (False, True):
            path: Path = clip_path(ratio, with_audio)
            assert path.stat().st_size < 64 * 1024
            probe = subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_type,width,height",
                    "-of",
                    "json",
                    str(path),
                ],
                capture_output=True,
                check=True,
                text=True,
            )
            streams = json.loads(probe.stdout)["streams"]
            video = next(s for s in streams if s["codec_type"] == "video")
            assert (video["width"], video["height"]) == (width, height)
            assert any(s["codec_type"] == "audio" for s in streams) is with_audio


# ---------------------------------------------------------------------------- uploads


async def test_uploads_serve_the_bytes(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    stream = await http.post(
        "/api/file-stream-upload",
        headers=AUTH,
        files={"file": ("a.png", b"PNGDATA", "image/png")},
        data={"uploadPath": "telegram-inputs", "fileName": "a.png"},
    )
    answer = stream.json()
    assert answer["success"] is True and answer["code"] == 200
    assert answer["data"]["downloadUrl"] == f"{sim.base_url}/files/telegram-inputs/a.png"
    served = await http.get(answer["data"]["downloadUrl"])
    assert served.content == b"PNGDATA" and served.headers["Content-Type"] == "image/png"

    b64 = (
        await http.post(
            "/api/file-base64-upload",
            headers=AUTH,
            json={
                "base64Data": "data:image/jpeg;base64," + base64.b64encode(b"JPEG").decode(),
                "uploadPath": "in",
                "fileName": "b.jpg",
            },
        )
    ).json()
    assert (await http.get(b64["data"]["downloadUrl"])).content == b"JPEG"

    by_url = (
        await http.post(
            "/api/file-url-upload",
            headers=AUTH,
            json={"fileUrl": answer["data"]["downloadUrl"], "uploadPath": "copies"},
        )
    ).json()
    assert by_url["data"]["downloadUrl"].endswith("/files/copies/a.png")
    assert sim.requests_to("/api/file-stream-upload")[0].form == {
        "uploadPath": "telegram-inputs",
        "fileName": "a.png",
    }

    missing_path = (
        await http.post("/api/file-base64-upload", headers=AUTH, json={"base64Data": "aGk="})
    ).json()
    assert missing_path["code"] == 400 and missing_path["success"] is False


# ---------------------------------------------------------------------------- recording, mounting, sandbox


async def test_requests_are_recorded_and_leaks_detected(sim: KieSimulator, http: httpx.AsyncClient) -> None:
    await create(http, "/api/v1/jobs/createTask", SORA)
    recorded = sim.requests_to("/api/v1/jobs/createTask", "POST")
    assert len(recorded) == 1
    assert recorded[0].json == SORA
    assert recorded[0].headers["Authorization"] == f"Bearer {KEY}"
    assert sim.telegram_leaks() == []
    leaky = market(
        "kling-2.6/image-to-video",
        prompt="x",
        sound=False,
        duration="5",
        image_urls=["https://api.telegram.org/file/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/a.jpg"],
    )
    await create(http, "/api/v1/jobs/createTask", leaky)
    assert sim.telegram_leaks()


async def test_simulator_can_be_mounted_in_another_app() -> None:
    parent = web.Application()
    simulator = KieSimulator(KEY, timings=SimTimings.instant())
    simulator.mount(parent, "/kie-sim")
    runner = web.AppRunner(parent)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    simulator.bind(f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            task_id = (await create(client, "/api/v1/jobs/createTask", SORA))["data"]["taskId"]
            await simulator.wait_final(task_id)
            data = (await status(client, "/api/v1/jobs/recordInfo", task_id))["data"]
            url = json.loads(data["resultJson"])["resultUrls"][0]
            assert url.startswith(f"http://127.0.0.1:{port}/kie-sim/results/")
            assert (await client.get(url)).status_code == 200
        assert simulator.requests_to("/api/v1/jobs/createTask")
    finally:
        await simulator.stop()
        await runner.cleanup()


async def test_start_sandbox() -> None:
    sandbox = await start_sandbox(timings=SimTimings.instant())
    try:
        assert sandbox.api_base == sandbox.upload_base
        async with httpx.AsyncClient(base_url=sandbox.api_base) as client:
            credit = (
                await client.get(
                    "/api/v1/chat/credit", headers={"Authorization": f"Bearer {sandbox.api_key}"}
                )
            ).json()
        assert credit["code"] == 200 and credit["data"] == 1_000_000
    finally:
        await sandbox.stop()


# ---------------------------------------------------------------------------- the 2026 line-up
IMG_A, IMG_B = "https://h/a.png", "https://h/b.png"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Seedance 2.x: frames and references are mutually exclusive (kie-api-2026.md §1.3).
        (market("bytedance/seedance-2", prompt="x", aspect_ratio="9:16", duration=5, first_frame_url=IMG_A,
                reference_image_urls=[IMG_B]), "cannot be used in the same request"),
        (market("bytedance/seedance-2-5", prompt="x", last_frame_url=IMG_B, reference_image_urls=[IMG_A]),
         "cannot be used in the same request"),
        (market("bytedance/seedance-2-fast", prompt="x", aspect_ratio="9:16", duration=5,
                last_frame_url=IMG_B), "last_frame_url requires first_frame_url"),
        # Seedance 2.0: integer duration 4–15, aspect_ratio required, 1080p only on the full model.
        (market("bytedance/seedance-2", prompt="x", aspect_ratio="9:16", duration="5"),
         "input.duration must be a number"),
        (market("bytedance/seedance-2", prompt="x", aspect_ratio="9:16", duration=16),
         "input.duration must be at most 15"),
        (market("bytedance/seedance-2", prompt="x", duration=5), "input.aspect_ratio is required"),
        (market("bytedance/seedance-2-fast", prompt="x", aspect_ratio="9:16", duration=5, resolution="1080p"),
         "input.resolution must be one of"),
        (market("bytedance/seedance-2", prompt="x", aspect_ratio="auto", duration=5),
         "input.aspect_ratio must be one of"),
        # Seedance 2.5: 4–30 or -1, not 0–3; ≤30 reference images.
        (market("bytedance/seedance-2-5", prompt="x", duration=31), "input.duration must be at most 30"),
        (market("bytedance/seedance-2-5", prompt="x", duration=3), "duration must be between 4"),
        (market("bytedance/seedance-2-5", prompt="x", reference_image_urls=[IMG_A] * 31),
         "accepts at most 30 items"),
        # Kling 3.0: sound is required; duration is a string "3".."15"; ≤2 images; std/pro/4K.
        (market("kling-3.0/video", prompt="x", duration="5", mode="std"), "input.sound is required"),
        (market("kling-3.0/video", prompt="x", sound=True, duration=5), "input.duration must be a string"),
        (market("kling-3.0/video", prompt="x", sound=True, duration="16"), "input.duration must be one of"),
        (market("kling-3.0/video", prompt="x", sound=True, image_urls=[IMG_A, IMG_B, IMG_A]),
         "accepts at most 2 items"),
        (market("kling-3.0/video", prompt="x", sound=True, mode="1080p"), "input.mode must be one of"),
        # MiniMax H3: 768P / 2K, integer 4–15; image→video needs the first frame.
        (market("minimax-h3/text-to-video", prompt="x", resolution="1080P"),
         "input.resolution must be one of"),
        (market("minimax-h3/text-to-video", prompt="x", duration=3), "input.duration must be at least 4"),
        (market("minimax-h3/image-to-video", prompt="x", last_frame_image=IMG_B),
         "input.first_frame_image is required"),
        (market("minimax-h3/image-to-video", prompt="x", first_frame_image=IMG_A, aspect_ratio="9:16"),
         "input.aspect_ratio is not a parameter"),
        # Wan 2.6: duration "5"/"10"/"15" as strings; one image in image_urls.
        (market("wan/2-6-text-to-video", prompt="x", duration=5), "input.duration must be a string"),
        (market("wan/2-6-text-to-video", prompt="x", duration="5", aspect_ratio="9:16"),
         "input.aspect_ratio is not a parameter"),
        (market("wan/2-6-image-to-video", prompt="x", duration="5"), "input.image_urls is required"),
        (market("wan/2-6-image-to-video", prompt="x", image_urls=[IMG_A, IMG_B]), "accepts at most 1 items"),
        # Veo: 4K is in the generate schema, 8K is not.
        ({"prompt": "x", "model": "veo3_lite", "resolution": "8k"}, "resolution must be one of"),
    ],
)
async def test_2026_lineup_rejects_what_the_docs_reject(
    http: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    path = "/api/v1/veo/generate" if "model" in body and "input" not in body else "/api/v1/jobs/createTask"
    answer = await create(http, path, body)
    assert answer["code"] == 422, answer
    assert message in answer["msg"]


@pytest.mark.parametrize(
    ("body", "credits"),
    [
        (market("bytedance/seedance-2", prompt="x", aspect_ratio="adaptive", duration=10, resolution="720p",
                first_frame_url=IMG_A, last_frame_url=IMG_B, generate_audio=True), 410),
        (market("bytedance/seedance-2-fast", prompt="x", aspect_ratio="9:16", duration=5, resolution="480p",
                reference_image_urls=[IMG_A, IMG_B]), 78),
        (market("bytedance/seedance-2-5", prompt="x", duration=30, resolution="720p"), 1890),
        (market("kling-3.0/video", prompt="x", sound=True, duration="15", mode="pro", aspect_ratio="9:16"),
         405),
        (market("kling-3.0/video", prompt="x", sound=False, duration="5", image_urls=[IMG_A, IMG_B]), 70),
        (market("minimax-h3/text-to-video", prompt="x", duration=10, resolution="2K", aspect_ratio="9:16"),
         260),
        (market("minimax-h3/image-to-video", prompt="x", first_frame_image=IMG_A, last_frame_image=IMG_B,
                duration=6, resolution="768P"), 96),
        (market("wan/2-6-image-to-video", prompt="x", image_urls=[IMG_A], duration="10", resolution="720p"),
         200),
        ({"prompt": "x", "model": "veo3_fast", "resolution": "4k", "aspectRatio": "9:16"}, 180),
    ],
)
async def test_2026_lineup_accepts_documented_requests_and_bills_kies_price(
    sim: KieSimulator, http: httpx.AsyncClient, body: dict[str, Any], credits: int
) -> None:
    path = "/api/v1/jobs/createTask" if "input" in body else "/api/v1/veo/generate"
    answer = await create(http, path, body)
    assert answer["code"] == 200, answer
    task = sim.tasks[answer["data"]["taskId"]]
    assert task.price == credits
