"""Runway Aleph (video→video): POST /api/v1/aleph/generate, GET /api/v1/aleph/record-info (§5.5-5.7)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.catalog import Family, ModelEntry, Order
from bot.kie.adapters._build import prepare, with_callback
from bot.kie.adapters._parse import (
    as_int,
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

CREATE_PATH = "/api/v1/aleph/generate"
# The generate page's curl says record-detail, but the endpoint's own schema is record-info.
STATUS_PATH = "/api/v1/aleph/record-info"


class AlephAdapter:
    family = Family.ALEPH

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        prepare(entry, order, self.family)
        body: dict[str, Any] = {
            "prompt": order.prompt.strip(),
            "videoUrl": order.inputs["video"][0],
            "waterMark": "",
        }
        if order.ratio:  # the catalog offers none today (the video decides), but the API accepts one
            body["aspectRatio"] = order.ratio
        return CreateRequest(CREATE_PATH, with_callback(body, callback_url))

    def status_request(self, task_id: str) -> StatusRequest:
        return StatusRequest(STATUS_PATH, {"taskId": task_id})

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """successFlag 1 = success; 0 = still running OR failed - an error code/message tells them apart."""
        task_id = task_id_in(data)
        response = as_mapping(data.get("response"))
        flag = as_int(data.get("successFlag"))
        if flag == 1:
            url = first(response, "resultVideoUrl", "result_video_url", "resultUrls", "videoUrl")
            return succeeded(task_id, url_list(url))
        error_code = as_text(first(data, "errorCode", "error_code"))
        error_message = as_text(first(data, "errorMessage", "error_message"))
        # errorCode is 0 on success, so "0" is not an error.
        if (error_code is not None and error_code != "0") or error_message:
            return failed(task_id, error_code, error_message, "Aleph generation failed")
        if flag == 0:
            return TaskResult(TaskState.RUNNING, task_id)
        return TaskResult(TaskState.PENDING, task_id)

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """{code, msg, data:{result_video_url, result_image_url}, taskId} - taskId at the top level.

        Also reads the Runway-style data the generate page's schema shows (task_id/video_url)."""
        data = as_mapping(body.get("data"))
        task_id = task_id_in(body) or task_id_in(data)
        if not is_ok(body):
            return callback_failed(body, task_id)
        url = first(data, "result_video_url", "resultVideoUrl", "video_url", "videoUrl")
        return succeeded(task_id, url_list(url))
