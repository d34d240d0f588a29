"""Luma Modify (video→video): POST /api/v1/modify/generate, GET /api/v1/modify/record-info (§6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.catalog import Family, ModelEntry, Order
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

CREATE_PATH = "/api/v1/modify/generate"
STATUS_PATH = "/api/v1/modify/record-info"


class ModifyAdapter:
    family = Family.MODIFY

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        prepare(entry, order, self.family)
        body: dict[str, Any] = {"prompt": order.prompt.strip(), "videoUrl": order.inputs["video"][0]}
        return CreateRequest(CREATE_PATH, with_callback(body, callback_url))

    def status_request(self, task_id: str) -> StatusRequest:
        return StatusRequest(STATUS_PATH, {"taskId": task_id})

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """successFlag: 0 generating, 1 success, 2 create failed, 3 generation failed,
        4 success but the callback failed (still a success for us)."""
        task_id = task_id_in(data)
        flag = as_int(data.get("successFlag"))
        if flag in (1, 4):
            response = as_mapping(data.get("response"))
            return succeeded(task_id, url_list(first(response, "resultUrls", "result_urls")))
        if flag in (2, 3):
            return failed(task_id, data.get("errorCode"), data.get("errorMessage"), "Luma generation failed")
        if flag == 0:
            return TaskResult(TaskState.RUNNING, task_id)
        return TaskResult(TaskState.PENDING, task_id)

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """{code, msg, data:{taskId, promptJson, resultUrls}}; failure code 500 without resultUrls."""
        data = as_mapping(body.get("data"))
        task_id = task_id_in(data)
        if not is_ok(body):
            return callback_failed(body, task_id)
        return succeeded(task_id, url_list(first(data, "resultUrls", "result_urls")))
