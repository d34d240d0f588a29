"""Family adapters: request bodies as kie-api.md documents them, and tolerant result parsing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bot.catalog import Catalog, Family, InvalidOrder, ModelEntry, Order, build_catalog
from bot.kie.adapters import adapter_for
from bot.kie.adapters._parse import NO_RESULT_CODE, url_list
from bot.kie.types import TaskState

CALLBACK = "https://bot.example/kie/callback/tok"
CATALOG: Catalog = build_catalog()

CREATE_PATHS = {
    Family.VEO: "/api/v1/veo/generate",
    Family.RUNWAY: "/api/v1/runway/generate",
    Family.ALEPH: "/api/v1/aleph/generate",
    Family.MODIFY: "/api/v1/modify/generate",
    Family.MARKET: "/api/v1/jobs/createTask",
}
STATUS_PATHS = {
    Family.VEO: "/api/v1/veo/record-info",
    Family.RUNWAY: "/api/v1/runway/record-detail",
    Family.ALEPH: "/api/v1/aleph/record-info",
    Family.MODIFY: "/api/v1/modify/record-info",
    Family.MARKET: "/api/v1/jobs/recordInfo",
}
PROMPT = "A lighthouse in a storm, waves crashing"
IMG = "https://files.test/image0.bin"
AUD = "https://files.test/audio0.bin"


def entry(key: str) -> ModelEntry:
    found = CATALOG.get(key)
    assert found is not None, key
    return found


def order_for(model: ModelEntry, mode_key: str, **changes: Any) -> Order:
    spec = model.mode_spec(mode_key)
    inputs = {
        r.kind.value: tuple(f"https://files.test/{r.kind}{i}.bin" for i in range(r.count))
        for r in spec.inputs
    }
    fields: dict[str, Any] = {
        "model_key": model.key,
        "mode": mode_key,
        "ratio": spec.ratios[0] if spec.ratios else None,
        "options": {},
        "prompt": PROMPT,
        "inputs": inputs,
    }
    fields.update(changes)
    return Order(**fields)


def create(key: str, mode_key: str, callback: str | None = None, **changes: Any) -> dict[str, Any]:
    model = entry(key)
    request = adapter_for(model.family).build_create(model, order_for(model, mode_key, **changes), callback)
    assert request.path == CREATE_PATHS[model.family]
    json.dumps(request.body)  # must be JSON-serializable
    return request.body


ALL_MODES = [(e.key, m) for e in CATALOG.offerable() for m in e.modes]


# --- build_create for every entry and mode -------------------------------------------------------
@pytest.mark.parametrize(("key", "mode_key"), ALL_MODES)
def test_every_entry_and_mode_builds_the_documented_request(key: str, mode_key: str) -> None:
    model = entry(key)
    spec = model.mode_spec(mode_key)
    body = create(key, mode_key)
    assert "callBackUrl" not in body
    assert create(key, mode_key, CALLBACK)["callBackUrl"] == CALLBACK

    if model.family == Family.MARKET:
        assert set(body) == {"model", "input"}
        assert body["model"] == spec.kie_model
        payload = body["input"]
        assert payload["prompt"] == PROMPT
        for value in payload.values():
            # string enums; bools only for real booleans; integers only where KIE documents an integer
            # duration (Seedance 2.x, MiniMax H3); URLs as str/list
            assert isinstance(value, str | bool | list | int)
        for url_field in ("image_url", "audio_url", "video_url", "first_frame_url", "last_frame_url",
                          "first_frame_image", "last_frame_image"):
            if url_field in payload:
                assert payload[url_field].startswith("https://files.test/")
        images = [url for rule in spec.inputs if rule.kind == "image"
                  for url in (f"https://files.test/image{i}.bin" for i in range(rule.count))]
        for list_field in ("image_urls", "reference_image_urls"):
            if list_field in payload:
                assert payload[list_field] == images
        for option in spec.options:
            field = spec.wire.option_fields.get(option.key)  # type: ignore[union-attr]
            if field:
                assert field in payload
        if spec.ratios:
            assert "aspect_ratio" in payload
        else:
            assert "aspect_ratio" not in payload
    elif model.family == Family.VEO:
        assert body["model"] == spec.kie_model and body["prompt"] == PROMPT
    else:
        assert body["prompt"] == PROMPT


def test_veo_bodies() -> None:
    body = create("veo_fast", "t2v", CALLBACK, ratio="9:16", options={"resolution": "1080p"})
    assert body == {
        "prompt": PROMPT,
        "model": "veo3_fast",
        "generationType": "TEXT_2_VIDEO",
        "resolution": "1080p",
        "enableTranslation": True,
        "aspectRatio": "9:16",
        "callBackUrl": CALLBACK,
    }
    body = create("veo_quality", "i2v", ratio="auto")
    assert body["model"] == "veo3" and body["aspectRatio"] == "Auto"
    assert body["imageUrls"] == [IMG]
    assert body["generationType"] == "FIRST_AND_LAST_FRAMES_2_VIDEO"
    body = create("veo_lite", "frames", ratio="16:9")
    assert body["model"] == "veo3_lite"
    assert body["imageUrls"] == [IMG, "https://files.test/image1.bin"]
    assert body["generationType"] == "FIRST_AND_LAST_FRAMES_2_VIDEO" and body["resolution"] == "720p"
    assert "duration" not in body and "aspect_ratio" not in body


def test_runway_bodies() -> None:
    body = create("runway", "t2v", options={"duration": "10"}, ratio="3:4")
    assert body == {
        "prompt": PROMPT,
        "duration": 10,
        "quality": "720p",
        "waterMark": "",
        "aspectRatio": "3:4",
    }
    assert isinstance(body["duration"], int)
    body = create("runway", "i2v", CALLBACK, options={"resolution": "1080p"})
    assert body == {
        "prompt": PROMPT,
        "duration": 5,
        "quality": "1080p",
        "waterMark": "",
        "imageUrl": IMG,
        "callBackUrl": CALLBACK,
    }


def test_aleph_and_luma_bodies() -> None:
    assert create("aleph", "v2v") == {
        "prompt": PROMPT,
        "videoUrl": "https://files.test/video0.bin",
        "waterMark": "",
    }
    assert create("luma", "v2v", CALLBACK) == {
        "prompt": PROMPT,
        "videoUrl": "https://files.test/video0.bin",
        "callBackUrl": CALLBACK,
    }


@pytest.mark.parametrize(
    ("key", "mode_key", "changes", "expected_model", "expected_input"),
    [
        # The 2026 line-up (kie-api-2026.md §1.3), written from the docs, not from the wire specs.
        (
            "seedance2",
            "t2v",
            {"ratio": "9:16", "options": {"duration": "15", "resolution": "1080p"}},
            "bytedance/seedance-2",
            {"prompt": PROMPT, "aspect_ratio": "9:16", "duration": 15, "resolution": "1080p",
             "generate_audio": True},
        ),
        (
            "seedance2f",
            "frames",
            {"ratio": "auto"},
            "bytedance/seedance-2-fast",
            {"prompt": PROMPT, "first_frame_url": IMG, "last_frame_url": "https://files.test/image1.bin",
             "aspect_ratio": "adaptive", "duration": 5, "resolution": "720p", "generate_audio": True},
        ),
        (
            "seedance25",
            "i2v",
            {"ratio": "16:9", "options": {"duration": "30", "resolution": "480p"}},
            "bytedance/seedance-2-5",
            {"prompt": PROMPT, "first_frame_url": IMG, "aspect_ratio": "16:9", "duration": 30,
             "resolution": "480p", "generate_audio": True},
        ),
        (
            "seedance25",
            "refs",
            {"ratio": "1:1"},
            "bytedance/seedance-2-5",
            {"prompt": PROMPT, "aspect_ratio": "1:1", "duration": 5, "resolution": "720p",
             "generate_audio": True, "reference_image_urls": [
                 IMG, "https://files.test/image1.bin", "https://files.test/image2.bin"]},
        ),
        (
            "kling30",
            "t2v",
            {"ratio": "16:9", "options": {"duration": "10", "quality": "pro", "sound": "off"}},
            "kling-3.0/video",
            {"prompt": PROMPT, "aspect_ratio": "16:9", "duration": "10", "mode": "pro", "sound": False},
        ),
        (
            "kling30",
            "frames",
            {},
            "kling-3.0/video",
            {"prompt": PROMPT, "image_urls": [IMG, "https://files.test/image1.bin"], "duration": "5",
             "mode": "std", "sound": True},
        ),
        (
            "minimax_h3",
            "t2v",
            {"ratio": "9:16", "options": {"resolution": "2K", "duration": "15"}},
            "minimax-h3/text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "9:16", "duration": 15, "resolution": "2K"},
        ),
        (
            "minimax_h3",
            "frames",
            {},
            "minimax-h3/image-to-video",
            {"prompt": PROMPT, "first_frame_image": IMG, "last_frame_image": "https://files.test/image1.bin",
             "duration": 6, "resolution": "768P"},
        ),
        (
            "minimax_h3",
            "i2v",
            {},
            "minimax-h3/image-to-video",
            {"prompt": PROMPT, "first_frame_image": IMG, "duration": 6, "resolution": "768P"},
        ),
        (
            "wan26",
            "t2v",
            {"options": {"duration": "15", "resolution": "1080p"}},
            "wan/2-6-text-to-video",
            {"prompt": PROMPT, "duration": "15", "resolution": "1080p"},
        ),
        (
            "wan26",
            "i2v",
            {},
            "wan/2-6-image-to-video",
            {"prompt": PROMPT, "image_urls": [IMG], "duration": "5", "resolution": "720p"},
        ),
        (
            "kling25",
            "t2v",
            {"ratio": "1:1", "options": {"duration": "10"}},
            "kling/v2-5-turbo-text-to-video-pro",
            {"prompt": PROMPT, "aspect_ratio": "1:1", "duration": "10"},
        ),
        (
            "kling25",
            "i2v",
            {},
            "kling/v2-5-turbo-image-to-video-pro",
            {"prompt": PROMPT, "image_url": IMG, "duration": "5"},
        ),
        (
            "kling26",
            "t2v",
            {"options": {"sound": "off"}},
            "kling-2.6/text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "9:16", "duration": "5", "sound": False},
        ),
        (
            "kling26",
            "i2v",
            {},
            "kling-2.6/image-to-video",
            {"prompt": PROMPT, "image_urls": [IMG], "duration": "5", "sound": True},
        ),
        (
            "kavatar_std",
            "avatar",
            {"prompt": ""},
            "kling/ai-avatar-standard",
            {"prompt": "", "image_url": IMG, "audio_url": AUD},
        ),
        (
            "kavatar_pro",
            "avatar",
            {"options": {"duration": "15"}},
            "kling/ai-avatar-pro",
            {"prompt": PROMPT, "image_url": IMG, "audio_url": AUD},
        ),
        (
            "hailuo23_std",
            "i2v",
            {"options": {"duration": "10"}},
            "hailuo/2-3-image-to-video-standard",
            {"prompt": PROMPT, "image_url": IMG, "duration": "10", "resolution": "768P"},
        ),
        ("hailuo02_std", "t2v", {}, "hailuo/02-text-to-video-standard", {"prompt": PROMPT, "duration": "6"}),
        (
            "hailuo02_std",
            "i2v",
            {"options": {"resolution": "512P"}},
            "hailuo/02-image-to-video-standard",
            {"prompt": PROMPT, "image_url": IMG, "duration": "6", "resolution": "512P"},
        ),
        ("hailuo02_pro", "t2v", {}, "hailuo/02-text-to-video-pro", {"prompt": PROMPT}),
        ("hailuo02_pro", "i2v", {}, "hailuo/02-image-to-video-pro", {"prompt": PROMPT, "image_url": IMG}),
        (
            "wan25",
            "t2v",
            {"ratio": "16:9", "options": {"duration": "10", "resolution": "1080p"}},
            "wan/2-5-text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "16:9", "duration": "10", "resolution": "1080p"},
        ),
        (
            "wan25",
            "i2v",
            {},
            "wan/2-5-image-to-video",
            {"prompt": PROMPT, "image_url": IMG, "duration": "5", "resolution": "720p"},
        ),
        (
            "wan_s2v",
            "s2v",
            {"options": {"resolution": "580p"}},
            "wan/2-2-a14b-speech-to-video-turbo",
            {"prompt": PROMPT, "image_url": IMG, "audio_url": AUD, "resolution": "580p"},
        ),
        (
            "seed_lite",
            "t2v",
            {"ratio": "9:21"},
            "bytedance/v1-lite-text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "9:21", "duration": "5", "resolution": "720p"},
        ),
        (
            "seed_pro",
            "t2v",
            {"ratio": "21:9", "options": {"resolution": "480p"}},
            "bytedance/v1-pro-text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "21:9", "duration": "5", "resolution": "480p"},
        ),
        (
            "seed_pro",
            "i2v",
            {},
            "bytedance/v1-pro-image-to-video",
            {"prompt": PROMPT, "image_url": IMG, "duration": "5", "resolution": "720p"},
        ),
        (
            "seed_pfast",
            "i2v",
            {"options": {"resolution": "1080p", "duration": "10"}},
            "bytedance/v1-pro-fast-image-to-video",
            {"prompt": PROMPT, "image_url": IMG, "duration": "10", "resolution": "1080p"},
        ),
    ],
)
def test_market_inputs_per_model(
    key: str, mode_key: str, changes: dict[str, Any], expected_model: str, expected_input: dict[str, Any]
) -> None:
    body = create(key, mode_key, CALLBACK, **changes)
    assert body == {"model": expected_model, "callBackUrl": CALLBACK, "input": expected_input}


@pytest.mark.parametrize("key", ["sora2", "sora2_pro"])
def test_retired_models_are_never_sent_to_kie(key: str) -> None:
    """Sora 2 is retired (OpenAI shut its API down): no request is built for it, whatever the order."""
    with pytest.raises(InvalidOrder) as caught:
        create(key, "t2v", CALLBACK)
    assert caught.value.reason_key == "model_retired"


def test_veo_4k_is_asked_for_in_the_generate_call() -> None:
    """The 2026 generate schema has resolution 720p/1080p/4k; no enableFallback (deprecated)."""
    body = create("veo_lite", "t2v", options={"resolution": "4k"})
    assert body == {"prompt": PROMPT, "model": "veo3_lite", "generationType": "TEXT_2_VIDEO",
                    "resolution": "4k", "enableTranslation": True, "aspectRatio": "9:16"}


def test_build_create_refuses_invalid_orders_and_wrong_family() -> None:
    runway = entry("runway")
    adapter = adapter_for("runway")
    bad = order_for(runway, "t2v", options={"duration": "10", "resolution": "1080p"})
    with pytest.raises(InvalidOrder) as caught:
        adapter.build_create(runway, bad, None)
    assert caught.value.reason_key == "forbidden_combination"
    with pytest.raises(ValueError, match="family"):
        adapter_for(Family.VEO).build_create(runway, order_for(runway, "t2v"), None)
    with pytest.raises(ValueError):
        adapter_for("luma")


@pytest.mark.parametrize("family", list(Family))
def test_status_requests(family: Family) -> None:
    request = adapter_for(family).status_request("task-1")
    assert request.path == STATUS_PATHS[family]
    assert request.params == {"taskId": "task-1"}


# --- Veo ------------------------------------------------------------------------------------------
VEO = adapter_for(Family.VEO)


def veo_record(flag: Any, **extra: Any) -> dict[str, Any]:
    data = {
        "taskId": "veo_task_x",
        "paramJson": '{"prompt":"p","model":"veo3_fast"}',
        "createTime": "2025-06-06 10:25:00",
        "completeTime": "2025-06-06 10:30:00",
        "successFlag": flag,
        "errorCode": None,
        "errorMessage": "",
        "fallbackFlag": False,
    }
    data.update(extra)
    return data


def test_veo_status_flags() -> None:
    response = {
        "taskId": "veo_task_x",
        "resultUrls": ["https://r/a.mp4"],
        "originUrls": ["https://r/o.mp4"],
        "resolution": "1080p",
    }
    result = VEO.parse_status(veo_record(1, response=response))
    assert result.state == TaskState.SUCCEEDED and result.video_urls == ("https://r/a.mp4",)
    assert result.task_id == "veo_task_x" and result.final
    assert VEO.parse_status(veo_record(0)).state == TaskState.RUNNING
    assert VEO.parse_status(veo_record("0")).state == TaskState.RUNNING
    assert VEO.parse_status(veo_record(None)).state == TaskState.PENDING
    failed = VEO.parse_status(veo_record(2, errorCode=400, errorMessage="content policy"))
    assert (failed.state, failed.fail_code, failed.fail_message) == (
        TaskState.FAILED,
        "400",
        "content policy",
    )
    failed3 = VEO.parse_status(veo_record(3, errorCode=501))
    assert failed3.state == TaskState.FAILED and failed3.fail_code == "501" and failed3.fail_message
    # string resultUrls, as the generate page's schema types it
    result = VEO.parse_status(veo_record("1", response={"resultUrls": "[http://r/a.mp4]"}))
    assert result.video_urls == ("http://r/a.mp4",)
    empty = VEO.parse_status(veo_record(1, response={"resultUrls": []}))
    assert empty.state == TaskState.FAILED and empty.fail_code == NO_RESULT_CODE


def test_veo_callbacks() -> None:
    success = {
        "code": 200,
        "msg": "Veo3.1 video generated successfully.",
        "data": {
            "taskId": "veo_task_x",
            "promptJson": "{}",
            "info": {
                "resultUrls": ["https://r/a.mp4"],
                "originUrls": ["https://r/o.mp4"],
                "resolution": "1080p",
            },
            "fallbackFlag": False,
        },
    }
    result = VEO.parse_callback(success)
    assert result.state == TaskState.SUCCEEDED and result.task_id == "veo_task_x"
    assert result.video_urls == ("https://r/a.mp4",)
    string_urls = {
        "code": 200,
        "msg": "ok",
        "data": {"taskId": "t", "info": {"resultUrls": "[http://r/a.mp4]"}},
    }
    assert VEO.parse_callback(string_urls).video_urls == ("http://r/a.mp4",)
    failure = {
        "code": 400,
        "msg": "Your prompt was flagged",
        "data": {"taskId": "veo_task_y", "fallbackFlag": False},
    }
    result = VEO.parse_callback(failure)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "veo_task_y",
        "400",
        "Your prompt was flagged",
    )
    assert VEO.parse_callback({"code": "501", "message": "boom", "data": None}).fail_message == "boom"


# --- Runway ---------------------------------------------------------------------------------------
RUNWAY = adapter_for(Family.RUNWAY)


def runway_record(state: str, **extra: Any) -> dict[str, Any]:
    data = {
        "taskId": "ee603959-debb-48d1-98c4-a6d1c717eba6",
        "parentTaskId": "",
        "state": state,
        "generateTime": "2023-08-15 14:30:45",
        "generateParam": {"prompt": "p", "imageUrl": "", "expandPrompt": True},
        "videoInfo": None,
        "failCode": None,
        "failMsg": "",
        "expireFlag": 0,
    }
    data.update(extra)
    return data


def test_runway_status_states() -> None:
    assert RUNWAY.parse_status(runway_record("wait")).state == TaskState.PENDING
    assert RUNWAY.parse_status(runway_record("queueing")).state == TaskState.PENDING
    assert RUNWAY.parse_status(runway_record("generating")).state == TaskState.RUNNING
    success = RUNWAY.parse_status(
        runway_record(
            "success",
            videoInfo={
                "videoId": "v",
                "taskId": "t",
                "videoUrl": "https://r/x.mp4",
                "imageUrl": "https://r/x.png",
            },
        )
    )
    assert success.state == TaskState.SUCCEEDED and success.video_urls == ("https://r/x.mp4",)
    assert success.task_id == "ee603959-debb-48d1-98c4-a6d1c717eba6"
    failed = RUNWAY.parse_status(runway_record("fail", failCode=400, failMsg="Inappropriate content"))
    assert (failed.state, failed.fail_code, failed.fail_message) == (
        TaskState.FAILED,
        "400",
        "Inappropriate content",
    )
    no_message = RUNWAY.parse_status(runway_record("fail", failCode=None, failMsg=""))
    assert no_message.fail_code is None and no_message.fail_message
    assert RUNWAY.parse_status(runway_record("success")).state == TaskState.FAILED  # no videoInfo


def test_runway_callbacks_are_snake_case() -> None:
    success = {
        "code": 200,
        "msg": "All generated successfully.",
        "data": {
            "task_id": "t-1",
            "video_id": "v-1",
            "video_url": "https://r/x.mp4",
            "image_url": "https://r/x.png",
        },
    }
    result = RUNWAY.parse_callback(success)
    assert (result.state, result.task_id, result.video_urls) == (
        TaskState.SUCCEEDED,
        "t-1",
        ("https://r/x.mp4",),
    )
    failure = {
        "code": 400,
        "msg": "Image fetch failed",
        "data": {"task_id": "t-2", "video_id": "", "video_url": "", "image_url": ""},
    }
    result = RUNWAY.parse_callback(failure)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "t-2",
        "400",
        "Image fetch failed",
    )


# --- Aleph ----------------------------------------------------------------------------------------
ALEPH = adapter_for(Family.ALEPH)


def aleph_record(flag: Any, **extra: Any) -> dict[str, Any]:
    data = {
        "taskId": "a-1",
        "paramJson": "{}",
        "response": None,
        "completeTime": None,
        "createTime": "2025-08-01T10:00:00Z",
        "successFlag": flag,
        "errorCode": None,
        "errorMessage": None,
    }
    data.update(extra)
    return data


def test_aleph_status_ambiguous_zero() -> None:
    done = ALEPH.parse_status(
        aleph_record(
            1,
            errorCode=0,
            errorMessage="",
            response={
                "taskId": "a-1",
                "resultVideoUrl": "https://r/v.mp4",
                "resultImageUrl": "https://r/v.png",
            },
        )
    )
    assert done.state == TaskState.SUCCEEDED and done.video_urls == ("https://r/v.mp4",)
    assert ALEPH.parse_status(aleph_record(0)).state == TaskState.RUNNING
    assert ALEPH.parse_status(aleph_record(0, errorCode=0, errorMessage="")).state == TaskState.RUNNING
    failed = ALEPH.parse_status(aleph_record(0, errorCode=400, errorMessage="Video could not be fetched"))
    assert (failed.state, failed.fail_code, failed.fail_message) == (
        TaskState.FAILED,
        "400",
        "Video could not be fetched",
    )
    assert ALEPH.parse_status(aleph_record(0, errorMessage="policy")).state == TaskState.FAILED
    assert ALEPH.parse_status(aleph_record("0", errorCode="500")).state == TaskState.FAILED


def test_aleph_callbacks_with_top_level_task_id() -> None:
    success = {
        "code": 200,
        "msg": "success",
        "data": {"result_video_url": "https://r/v.mp4", "result_image_url": "https://r/v.png"},
        "taskId": "a-1",
    }
    result = ALEPH.parse_callback(success)
    assert (result.state, result.task_id, result.video_urls) == (
        TaskState.SUCCEEDED,
        "a-1",
        ("https://r/v.mp4",),
    )
    failure = {"code": 400, "msg": "Unsafe content", "data": None, "taskId": "a-2"}
    result = ALEPH.parse_callback(failure)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "a-2",
        "400",
        "Unsafe content",
    )
    # the generate page's schema variant (Runway style)
    variant = {"code": 200, "msg": "ok", "data": {"task_id": "a-3", "video_url": "https://r/w.mp4"}}
    result = ALEPH.parse_callback(variant)
    assert (result.task_id, result.video_urls) == ("a-3", ("https://r/w.mp4",))


# --- Luma Modify ----------------------------------------------------------------------------------
MODIFY = adapter_for(Family.MODIFY)


def luma_record(flag: Any, **extra: Any) -> dict[str, Any]:
    data = {
        "taskId": "774d9a7dd608a0e49293903095e45a4c",
        "paramJson": "{}",
        "completeTime": 1757000000000,
        "createTime": 1756999000000,
        "successFlag": flag,
        "errorCode": None,
        "errorMessage": None,
        "response": {
            "taskId": "774d9a7dd608a0e49293903095e45a4c",
            "originUrls": [],
            "resultUrls": ["https://r/l.mp4"],
        },
    }
    data.update(extra)
    return data


@pytest.mark.parametrize(
    ("flag", "state"),
    [
        (0, TaskState.RUNNING),
        (1, TaskState.SUCCEEDED),
        (2, TaskState.FAILED),
        (3, TaskState.FAILED),
        (4, TaskState.SUCCEEDED),
        ("4", TaskState.SUCCEEDED),
        (None, TaskState.PENDING),
    ],
)
def test_luma_status_flags(flag: Any, state: TaskState) -> None:
    result = MODIFY.parse_status(luma_record(flag, errorCode=500 if flag in (2, 3) else None))
    assert result.state == state
    assert result.task_id == "774d9a7dd608a0e49293903095e45a4c"
    if state == TaskState.SUCCEEDED:
        assert result.video_urls == ("https://r/l.mp4",)
    if state == TaskState.FAILED:
        assert result.fail_code == "500" and result.fail_message


def test_luma_callbacks() -> None:
    success = {
        "code": 200,
        "msg": "Modify record generated successfully.",
        "data": {"taskId": "l-1", "promptJson": "{}", "resultUrls": ["https://r/l.mp4"]},
    }
    result = MODIFY.parse_callback(success)
    assert (result.state, result.task_id, result.video_urls) == (
        TaskState.SUCCEEDED,
        "l-1",
        ("https://r/l.mp4",),
    )
    failure = {
        "code": 500,
        "msg": "Modify record generation failed.",
        "data": {"taskId": "l-2", "promptJson": "{}"},
    }
    result = MODIFY.parse_callback(failure)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "l-2",
        "500",
        "Modify record generation failed.",
    )


# --- Market ---------------------------------------------------------------------------------------
MARKET = adapter_for(Family.MARKET)


def market_record(state: str, **extra: Any) -> dict[str, Any]:
    data = {
        "taskId": "task_123",
        "model": "sora-2-text-to-video",
        "state": state,
        "param": '{"model":"sora-2-text-to-video","input":{}}',
        "resultJson": None,
        "failCode": "",
        "failMsg": "",
        "costTime": 15000,
        "createTime": 1698765400000,
        "updateTime": 1698765432000,
        "completeTime": None,
        "progress": None,
    }
    data.update(extra)
    return data


def test_market_status_states_and_progress() -> None:
    assert MARKET.parse_status(market_record("waiting")).state == TaskState.PENDING
    assert MARKET.parse_status(market_record("queuing")).state == TaskState.PENDING
    running = MARKET.parse_status(market_record("generating", progress="45"))
    assert running.state == TaskState.RUNNING and running.progress == 45 and not running.final
    assert MARKET.parse_status(market_record("generating", progress=45)).progress == 45
    assert MARKET.parse_status(market_record("generating", progress="")).progress is None
    assert MARKET.parse_status(market_record("something-new")).state == TaskState.PENDING


def test_market_result_json_string_or_dict() -> None:
    as_string = market_record("success", resultJson='{"resultUrls":["https://r/v.mp4"]}', progress=100)
    result = MARKET.parse_status(as_string)
    assert (result.state, result.task_id, result.video_urls) == (
        TaskState.SUCCEEDED,
        "task_123",
        ("https://r/v.mp4",),
    )
    as_dict = market_record("success", resultJson={"resultUrls": ["https://r/a.mp4", "https://r/b.mp4"]})
    assert MARKET.parse_status(as_dict).video_urls == ("https://r/a.mp4", "https://r/b.mp4")
    sora = market_record(
        "success",
        resultJson=json.dumps(
            {"resultUrls": ["https://r/clean.mp4"], "resultWaterMarkUrls": ["https://r/wm.mp4"]}
        ),
    )
    assert MARKET.parse_status(sora).video_urls == ("https://r/clean.mp4",)
    snake = {"task_id": "t-9", "state": "success", "result_json": '{"result_urls":["https://r/s.mp4"]}'}
    result = MARKET.parse_status(snake)
    assert (result.task_id, result.video_urls) == ("t-9", ("https://r/s.mp4",))
    for broken in (None, "", "not json", '{"resultObject":{"character_id":"c"}}'):
        result = MARKET.parse_status(market_record("success", resultJson=broken))
        assert result.state == TaskState.FAILED and result.fail_code == NO_RESULT_CODE and result.fail_message


def test_market_failures_null_or_empty() -> None:
    failed = MARKET.parse_status(market_record("fail", failCode="500", failMsg="Internal server error"))
    assert (failed.state, failed.fail_code, failed.fail_message) == (
        TaskState.FAILED,
        "500",
        "Internal server error",
    )
    blank = MARKET.parse_status(market_record("fail", failCode=None, failMsg=""))
    assert blank.state == TaskState.FAILED and blank.fail_code is None and blank.fail_message
    numeric = MARKET.parse_status(market_record("fail", failCode=422, failMsg=None))
    assert numeric.fail_code == "422"


def test_market_callbacks() -> None:
    success = {
        "code": 200,
        "msg": "Playground task completed successfully.",
        "data": {
            "taskId": "e98962",
            "model": "kling-2.6/text-to-video",
            "state": "success",
            "param": "{}",
            "resultJson": '{"resultUrls":["https://r/k.mp4"]}',
            "failCode": None,
            "failMsg": None,
            "costTime": 8,
            "createTime": 1755599634000,
            "completeTime": 1755599644000,
        },
    }
    result = MARKET.parse_callback(success)
    assert (result.state, result.task_id, result.video_urls) == (
        TaskState.SUCCEEDED,
        "e98962",
        ("https://r/k.mp4",),
    )
    failure = {
        "code": 501,
        "msg": "Playground task failed.",
        "data": {
            "taskId": "e98963",
            "state": "fail",
            "failCode": "500",
            "failMsg": "Internal server error",
            "resultJson": None,
        },
    }
    result = MARKET.parse_callback(failure)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "e98963",
        "500",
        "Internal server error",
    )
    # non-200 envelope whose data lacks a state, with the `message` spelling
    odd = {"code": 501, "message": "Playground task failed.", "data": {"task_id": "e98964"}}
    result = MARKET.parse_callback(odd)
    assert (result.state, result.task_id, result.fail_code, result.fail_message) == (
        TaskState.FAILED,
        "e98964",
        "501",
        "Playground task failed.",
    )
    assert MARKET.parse_callback({"code": 500, "msg": "boom", "data": None}).state == TaskState.FAILED
    # a 200 callback that says nothing final leaves the job to polling
    unfinished = {"code": 200, "msg": "ok", "data": {"taskId": "x", "state": "generating"}}
    assert not MARKET.parse_callback(unfinished).final


# --- tolerant URL reading -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "urls"),
    [
        (["https://a", "https://b"], ("https://a", "https://b")),
        ('["https://a","https://b"]', ("https://a", "https://b")),
        ("[http://a.mp4]", ("http://a.mp4",)),
        ("[http://a.mp4, http://b.mp4]", ("http://a.mp4", "http://b.mp4")),
        ("https://single.mp4", ("https://single.mp4",)),
        ("", ()),
        ("[]", ()),
        (None, ()),
        ([None, "", "https://a"], ("https://a",)),
    ],
)
def test_url_list(raw: Any, urls: tuple[str, ...]) -> None:
    assert url_list(raw) == urls


def test_market_reads_the_2026_record_shape() -> None:
    """kie-api-2026.md §1.2: resultJson "" while waiting; `response` carries the parsed result (and may
    be the only place it is); creditsConsumed is KIE's cost as a float; successFlag 3 is a failure."""
    waiting = MARKET.parse_status(market_record("waiting", resultJson="", failCode=None, failMsg=None))
    assert waiting.state == TaskState.PENDING and waiting.credits_consumed is None
    from_response = MARKET.parse_status(
        market_record("success", resultJson="", response={"resultUrls": ["https://r/v.mp4"]},
                      creditsConsumed=3.5)
    )
    assert from_response.state == TaskState.SUCCEEDED
    assert from_response.video_urls == ("https://r/v.mp4",)
    assert from_response.credits_consumed == Decimal("3.5")
    both = MARKET.parse_status(
        market_record("success", resultJson='{"resultUrls": ["https://r/a.mp4"]}',
                      response={"resultUrls": ["https://r/a.mp4"]}, creditsConsumed="30.0")
    )
    assert both.video_urls == ("https://r/a.mp4",) and both.credits_consumed == Decimal("30")
    no_state = {k: v for k, v in market_record("x", failCode="500", failMsg="boom").items() if k != "state"}
    assert MARKET.parse_status({**no_state, "successFlag": 3}).state == TaskState.FAILED
    assert MARKET.parse_status({**no_state, "successFlag": 0}).state == TaskState.PENDING
    callback = MARKET.parse_callback(
        {"code": 200, "msg": "ok", "data": market_record(
            "success", resultJson="", response={"resultUrls": ["https://r/c.mp4"]}, creditsConsumed=12.25)}
    )
    assert callback.video_urls == ("https://r/c.mp4",) and callback.credits_consumed == Decimal("12.25")


def test_market_success_tells_how_long_kie_took() -> None:
    """createTime/completeTime are epoch ms, costTime whole seconds (kie-api-2026.md §1.2 item 5): the
    polling scheduler learns each model's completion times from them (exact, unlike the moment a
    poll noticed)."""
    done = MARKET.parse_status(
        market_record("success", resultJson='{"resultUrls": ["https://r/a.mp4"]}',
                      createTime=1777539190339, completeTime=1777539378147, costTime=188)
    )
    assert done.kie_seconds == pytest.approx(187.808)
    cost_only = MARKET.parse_status(
        market_record("success", resultJson='{"resultUrls": ["https://r/a.mp4"]}', costTime="188",
                      createTime=None, completeTime=None)
    )
    assert cost_only.kie_seconds == 188.0
    running = MARKET.parse_status(market_record("generating", createTime=1777539190339, costTime=None))
    assert running.kie_seconds is None
