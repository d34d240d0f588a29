"""Market / jobs API (Kling, Hailuo, MiniMax, Wan, Seedance; Sora 2 until its retirement):
POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo (kie-api.md §7-8). Field names per model
come from the catalog's WireSpec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.catalog import Family, ModelEntry, Order, WireSpec
from bot.kie.adapters._build import prepare, with_callback
from bot.kie.adapters._parse import (
    as_decimal,
    as_int,
    as_mapping,
    as_text,
    failed,
    first,
    is_ok,
    kie_seconds,
    message_of,
    succeeded,
    task_id_in,
    url_list,
)
from bot.kie.types import CreateRequest, StatusRequest, TaskResult, TaskState

CREATE_PATH = "/api/v1/jobs/createTask"
STATUS_PATH = "/api/v1/jobs/recordInfo"  # camelCase, no hyphen

PENDING_STATES = frozenset({"waiting", "queuing", "queueing", "wait"})


def build_input(wire: WireSpec, order: Order, options: Mapping[str, str]) -> dict[str, Any]:
    """The snake_case `input` object; option values stay strings ("5") unless the wire maps them."""
    payload: dict[str, Any] = {}
    prompt = order.prompt.strip()
    if wire.prompt_field and (prompt or wire.send_empty_prompt):
        payload[wire.prompt_field] = prompt
    images = order.inputs.get("image", ())
    if wire.image_fields:  # one string field per slot: first_frame_url, last_frame_url ...
        payload.update(zip(wire.image_fields, images, strict=False))
    elif wire.image_field and images:
        payload[wire.image_field] = list(images) if wire.image_as_list else images[0]
    audio = order.inputs.get("audio", ())
    if wire.audio_field and audio:
        payload[wire.audio_field] = audio[0]
    video = order.inputs.get("video", ())
    if wire.video_field and video:
        payload[wire.video_field] = video[0]
    if wire.ratio_field and order.ratio:
        payload[wire.ratio_field] = wire.ratio_values.get(order.ratio, order.ratio)
    for key, value in options.items():
        field = wire.option_fields.get(key)
        if field:  # options without a field only shape price/limits (avatar audio length)
            payload[field] = wire.value_maps.get(key, {}).get(value, value)
    payload.update(wire.constants)
    return payload


class MarketAdapter:
    family = Family.MARKET

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        spec, options = prepare(entry, order, self.family)
        if spec.wire is None:
            raise ValueError(f"market model {entry.key}/{spec.mode} has no WireSpec in the catalog")
        body: dict[str, Any] = {"model": spec.kie_model}
        with_callback(body, callback_url)
        body["input"] = build_input(spec.wire, order, options)
        return CreateRequest(CREATE_PATH, body)

    def status_request(self, task_id: str) -> StatusRequest:
        return StatusRequest(STATUS_PATH, {"taskId": task_id})

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """state: waiting / queuing / generating / success / fail; URLs inside the JSON *string*
        resultJson (a dict is tolerated), which is "" while waiting; newer answers also carry
        `response`, the same result already parsed, and `creditsConsumed` (kie-api-2026.md §1.2).
        Without a `state`, `successFlag` decides (0 running, 1 success, 3 fail). `progress` is read
        where present; KIE says it is not populated for most models."""
        result = self._read_state(data)
        credits = as_decimal(first(data, "creditsConsumed", "credits_consumed"))
        if credits is not None:
            result = replace(result, credits_consumed=credits)
        if result.state is TaskState.SUCCEEDED and (took := kie_seconds(data)) is not None:
            # KIE's own timing: the polling scheduler learns from it (jobs.kie_seconds).
            result = replace(result, kie_seconds=took)
        return result

    def _read_state(self, data: Mapping[str, Any]) -> TaskResult:
        task_id = task_id_in(data)
        state = (as_text(data.get("state")) or "").lower()
        if not state:
            state = {1: "success", 3: "fail"}.get(as_int(data.get("successFlag")) or 0, "")
        progress = as_int(data.get("progress"))
        if progress is not None:
            progress = max(0, min(100, progress))
        if state == "success":
            urls: tuple[str, ...] = ()
            for source in (first(data, "resultJson", "result_json"), data.get("response")):
                urls = url_list(first(as_mapping(source), "resultUrls", "result_urls"))
                if urls:
                    break
            return succeeded(task_id, urls, progress)
        if state == "fail":
            return failed(task_id, first(data, "failCode", "fail_code"), first(data, "failMsg", "fail_msg"),
                          "generation failed")
        if state == "generating":
            return TaskResult(TaskState.RUNNING, task_id, progress)
        return TaskResult(TaskState.PENDING, task_id, progress)  # waiting/queuing or unknown: keep polling

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """{code, msg, data:<the recordInfo object>}; failure: code 501 with data.state "fail".

        A 200 callback whose data says nothing final stays non-final: polling settles it."""
        data = as_mapping(body.get("data"))
        result = self.parse_status(data)
        if is_ok(body) or result.state == TaskState.FAILED:
            return result
        # A non-200 envelope is a failure even when data is null or does not say "fail".
        fail_code = as_text(first(data, "failCode", "fail_code")) or as_text(body.get("code"))
        fail_message = as_text(first(data, "failMsg", "fail_msg")) or message_of(body)
        return failed(result.task_id, fail_code, fail_message, "generation failed")
