"""Tolerant readers for KIE payloads: the docs disagree on types (numbers as strings, null vs "",
JSON strings vs objects, "[url]" strings vs arrays), so every adapter reads through these."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.kie.types import TaskResult, TaskState

NO_RESULT_CODE = "no_result"
NO_RESULT_MESSAGE = "KIE reported success but returned no video URL"


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A dict, or a JSON object string, as a mapping; anything else as {}."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, Mapping) else {}
    return {}


def as_int(value: Any) -> int | None:
    """1, "1", 1.0, " 45 " → int; None, "", "abc", True → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text)) if text else None
        except ValueError:
            return None
    return None


def as_decimal(value: Any) -> Decimal | None:
    """3.0, "3.5", 12 → exact Decimal (floats through str(), so 0.1 stays 0.1); anything else → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def as_text(value: Any) -> str | None:
    """A non-empty string form of `value`; None for null/""/whitespace."""
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def first(mapping: Mapping[str, Any], *keys: str) -> Any:
    """The first of `keys` present with a non-null value (camelCase/snake_case variants)."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def url_list(value: Any) -> tuple[str, ...]:
    """Video URLs from an array, a JSON array string, a "[http://a, http://b]" string or one URL."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(u.strip() for u in value if isinstance(u, str) and u.strip())
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                # Not JSON: the doc's "[http://...]" form, unquoted and comma separated.
                parts = text.strip("[]").split(",")
                return tuple(p.strip().strip("'\"") for p in parts if p.strip().strip("'\""))
            return url_list(parsed)
        return (text,)
    return ()


def message_of(body: Mapping[str, Any]) -> str | None:
    """The envelope message: `msg`, some doc pages spell it `message`."""
    return as_text(first(body, "msg", "message"))


def succeeded(task_id: str | None, urls: tuple[str, ...], progress: int | None = None) -> TaskResult:
    if not urls:
        # Nothing to deliver is a failure for the user: treat it as one so the credits come back.
        return TaskResult(TaskState.FAILED, task_id, progress, (), NO_RESULT_CODE, NO_RESULT_MESSAGE)
    return TaskResult(TaskState.SUCCEEDED, task_id, 100 if progress is None else progress, urls)


def failed(task_id: str | None, code: Any, message: Any, default_message: str) -> TaskResult:
    return TaskResult(
        TaskState.FAILED,
        task_id,
        fail_code=as_text(code),
        fail_message=as_text(message) or default_message,
    )


def callback_failed(body: Mapping[str, Any], task_id: str | None) -> TaskResult:
    """A callback whose envelope code is not 200."""
    return failed(task_id, body.get("code"), message_of(body), "generation failed")


def is_ok(body: Mapping[str, Any]) -> bool:
    return as_int(body.get("code")) == 200


def task_id_in(mapping: Mapping[str, Any]) -> str | None:
    return as_text(first(mapping, "taskId", "task_id"))


def kie_seconds(data: Mapping[str, Any]) -> float | None:
    """How long KIE took: completeTime - createTime (epoch ms), else costTime (whole seconds);
    None while running or when the answer has neither."""
    created = as_int(first(data, "createTime", "create_time"))
    completed = as_int(first(data, "completeTime", "complete_time"))
    if created is not None and completed is not None and completed >= created > 10**11:
        return (completed - created) / 1000
    cost = as_int(first(data, "costTime", "cost_time"))
    return float(cost) if cost is not None and cost >= 0 else None
