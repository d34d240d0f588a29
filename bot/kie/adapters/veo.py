"""Veo 3.1: POST /api/v1/veo/generate, GET /api/v1/veo/record-info (kie-api.md §4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.catalog import Family, Mode, ModelEntry, Order
from bot.kie.adapters._build import prepare, with_callback
from bot.kie.adapters._parse import (
    as_int,
    as_mapping,
    callback_failed,
    failed,
    first,
    is_ok,
    succeeded,
    task_id_in,
    url_list,
)
from bot.kie.types import CreateRequest, StatusRequest, TaskResult, TaskState

CREATE_PATH = "/api/v1/veo/generate"
STATUS_PATH = "/api/v1/veo/record-info"

# One image is "animate this frame", two are first + last frame; KIE uses one generation type for both.
GENERATION_TYPES: Mapping[str, str] = {
    Mode.T2V: "TEXT_2_VIDEO",
    Mode.I2V: "FIRST_AND_LAST_FRAMES_2_VIDEO",
    Mode.FRAMES: "FIRST_AND_LAST_FRAMES_2_VIDEO",
}


class VeoAdapter:
    family = Family.VEO

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        """Body per the newer docs: `resolution` chosen here (no 1080p follow-up call needed);
        `duration` omitted so KIE's default 8 s applies (same price for 4/6/8 s, and older servers
        don't know the field). `enableTranslation` on: our users write in Russian too, and the docs
        disagree on its default."""
        spec, options = prepare(entry, order, self.family)
        body: dict[str, Any] = {
            "prompt": order.prompt.strip(),
            "model": spec.kie_model,
            "generationType": GENERATION_TYPES[spec.mode],
            "resolution": options["resolution"],
            "enableTranslation": True,
        }
        images = order.inputs.get("image", ())
        if images:
            body["imageUrls"] = list(images)
        if order.ratio:
            body["aspectRatio"] = "Auto" if order.ratio == "auto" else order.ratio
        return CreateRequest(CREATE_PATH, with_callback(body, callback_url))

    def status_request(self, task_id: str) -> StatusRequest:
        return StatusRequest(STATUS_PATH, {"taskId": task_id})

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """successFlag: 0 generating, 1 success, 2 failed, 3 created but generation failed."""
        task_id = task_id_in(data)
        flag = as_int(data.get("successFlag"))
        if flag == 1:
            response = as_mapping(data.get("response"))
            urls = url_list(first(response, "resultUrls", "result_urls"))
            return succeeded(task_id, urls)
        if flag in (2, 3):
            return failed(task_id, data.get("errorCode"), data.get("errorMessage"), "Veo generation failed")
        if flag == 0:
            return TaskResult(TaskState.RUNNING, task_id)
        return TaskResult(TaskState.PENDING, task_id)

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """{code, msg, data:{taskId, info:{resultUrls}}}; failures carry a non-200 code and data.taskId."""
        data = as_mapping(body.get("data"))
        task_id = task_id_in(data)
        if not is_ok(body):
            return callback_failed(body, task_id)
        info = as_mapping(first(data, "info", "response"))
        return succeeded(task_id, url_list(first(info, "resultUrls", "result_urls")))
