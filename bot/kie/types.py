"""Family-neutral shapes exchanged between the catalog, the family adapters and the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class TaskState(StrEnum):
    PENDING = "pending"      # accepted, waiting / queued
    RUNNING = "running"      # generating
    SUCCEEDED = "succeeded"  # video URLs available
    FAILED = "failed"        # KIE says it failed


@dataclass(frozen=True)
class TaskResult:
    """One normalized reading of a task, from a status call or a callback body."""

    state: TaskState
    task_id: str | None = None
    progress: int | None = None                  # 0-100 where KIE gives it
    video_urls: tuple[str, ...] = ()
    fail_code: str | None = None
    fail_message: str | None = None
    # KIE credits KIE says the task cost (market recordInfo/callback `creditsConsumed`, a float on the
    # wire); None where KIE does not report it.
    credits_consumed: Decimal | None = None
    # How long KIE took for a finished task, by its own clock (completeTime - createTime); None
    # where the answer does not tell.
    kie_seconds: float | None = None

    @property
    def final(self) -> bool:
        return self.state in (TaskState.SUCCEEDED, TaskState.FAILED)


@dataclass(frozen=True)
class CreateRequest:
    """A create call: POST `path` on KIE_API_BASE with `body` as JSON."""

    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class StatusRequest:
    """A status call: GET `path` with `params`."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
