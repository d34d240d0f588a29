"""Runway Gen-3 Alpha Turbo: POST /api/v1/runway/generate, GET /api/v1/runway/record-detail (§5.1-5.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.catalog import Family, ModelEntry, Order
from bot.kie.adapters._build import prepare, with_callback
from bot.kie.adapters._parse import (
    as_mapping,
    as_text,
    callback_failed,
    failed,
    first,
    is_ok,
    succeeded,
    task_id_in,
    url_list,
)
from bot.kie.types import CreateRequest, StatusRequest, TaskResult, TaskState

CREATE_PATH = "/api/v1/runway/generate"
# Runway polls record-DETAIL, unlike every other dedicated family.
STATUS_PATH = "/api/v1/runway/record-detail"

PENDING_STATES = frozenset({"wait", "waiting", "queueing", "queuing"})


class RunwayAdapter:
    family = Family.RUNWAY

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        _spec, options = prepare(entry, order, self.family)
        body: dict[str, Any] = {
            "prompt": order.prompt.strip(),
            "duration": int(options["duration"]),  # a number here, unlike the market's "5"
            "quality": options["resolution"],
            "waterMark": "",  # capital M; "" = no watermark
        }
        images = order.inputs.get("image", ())
        if images:
            body["imageUrl"] = images[0]  # the image decides the frame; aspectRatio would be ignored
        elif order.ratio:
            body["aspectRatio"] = order.ratio
        return CreateRequest(CREATE_PATH, with_callback(body, callback_url))

    def status_request(self, task_id: str) -> StatusRequest:
        return StatusRequest(STATUS_PATH, {"taskId": task_id})

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """state: wait / queueing / generating / success / fail; URL in videoInfo.videoUrl."""
        task_id = task_id_in(data)
        state = (as_text(data.get("state")) or "").lower()
        if state == "success":
            video = as_mapping(first(data, "videoInfo", "video_info"))
            url = first(video, "videoUrl", "video_url") or first(data, "videoUrl", "video_url")
            return succeeded(task_id, url_list(url))
        if state == "fail":
            return failed(task_id, first(data, "failCode", "fail_code"), first(data, "failMsg", "fail_msg"),
                          "Runway generation failed")
        if state == "generating":
            return TaskResult(TaskState.RUNNING, task_id)
        return TaskResult(TaskState.PENDING, task_id)  # wait/queueing, or a state we do not know yet

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """{code, msg, data:{task_id, video_id, video_url, image_url}} - snake_case, unlike the status."""
        data = as_mapping(body.get("data"))
        task_id = task_id_in(data)
        if not is_ok(body):
            return callback_failed(body, task_id)
        return succeeded(task_id, url_list(first(data, "video_url", "videoUrl")))
