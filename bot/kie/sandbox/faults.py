"""Fault injection for the KIE simulator.

Three ways to make a task or an endpoint misbehave:
* a marker in the prompt, e.g. "a cat [sim:fail=501] [sim:double-callback]" (works through the whole
  bot, from a Telegram message to the callback);
* `sim.faults.set(...)` for every new task, `sim.faults.set_for(task_id, ...)` for one task;
* `sim.faults.inject(endpoint, ...)` for the next N calls of an endpoint (5xx, 429, 455, slow, hang,
  dropped connection, a garbled 2xx body).

Prompt markers:
    [sim:fail]  [sim:fail=501]  [sim:fail=400:Content policy violation]
    [sim:lose-callback]  [sim:double-callback]  [sim:delay=3]  [sim:never]
    [sim:expired]  [sim:large=60]  [sim:slow=2]  [sim:status-error=500]  [sim:status-error=455x3]
    [sim:refuse=400:Content policy violation]  (createTask answers with that code: no task is made)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

# "models": the four model-discovery calls (list, price, success-rate, schema).
ENDPOINTS = frozenset({"create", "status", "upload", "credit", "download_url", "result", "files", "models",
                       "*"})

# Bodies of a 2xx answer that is not a usable KIE envelope: (content type, text).
GARBLED_BODIES: dict[str, tuple[str, str]] = {
    "html": ("text/html", "<html><body><h1>200 OK</h1><p>Request accepted by edge proxy.</p></body></html>"),
    "truncated": ("application/json", '{"code": 200, "msg": "success", "data": {"taskId": "'),
    "no-envelope": ("application/json", '{"status": "ok", "result": "queued"}'),
    "no-task-id": ("application/json", '{"code": 200, "msg": "success", "data": {"recordId": "r-1"}}'),
}

_MARKER_RE = re.compile(r"\[sim:([a-z0-9-]+)(?:=([^\]]*))?\]")


@dataclass
class TaskFaults:
    """How one task behaves once created."""

    fail: tuple[int, str] | None = None      # finish as failed with (code, message)
    lose_callback: bool = False              # never POST the callback
    duplicate_callback: bool = False         # POST the callback twice
    delay_s: float = 0.0                     # extra generation time
    never_finish: bool = False               # stays "generating" until sim.complete()/fail()
    expired_result: bool = False             # result URL answers 403 (download-url still works)
    large_result_mb: float | None = None     # result body of this size (streamed, not in memory)
    slow_status_s: float = 0.0               # every status answer for this task waits this long
    status_errors: list[int] = field(default_factory=list)  # body codes for the next status calls
    refuse_create: tuple[int, str] | None = None  # createTask answers (code, message); no task

    def copy(self, **changes: Any) -> TaskFaults:
        merged = replace(self, **changes)
        merged.status_errors = list(changes.get("status_errors", self.status_errors))
        return merged


@dataclass
class EndpointFault:
    """The next `times` calls of `endpoint` misbehave (times=None: until cleared).

    http_status/code: answer with this HTTP status and, if `code` is set, a KIE envelope carrying it
    (no envelope = a gateway-style plain text error). `delay_s` alone = a slow but normal answer.
    `hang` = never answer (the client times out); `drop` = close the connection without an answer.
    `process` (create only) = create the task first, then misbehave: the request "reached KIE".
    `garbled` = answer HTTP `http_status` (200 by default) with a body that is not a KIE envelope, one of
    GARBLED_BODIES: "html" (a proxy page), "truncated" (JSON cut mid-way), "no-envelope" (JSON without
    code/data), "no-task-id" (a success envelope whose data has no taskId).
    """

    endpoint: str
    http_status: int = 200
    code: int | None = None
    msg: str = ""
    delay_s: float = 0.0
    hang: bool = False
    drop: bool = False
    process: bool = False
    times: int | None = 1
    retry_after_s: float | None = None
    garbled: str | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        if self.garbled is not None and self.garbled not in GARBLED_BODIES:
            raise ValueError(f"unknown garbled body {self.garbled!r}; one of {sorted(GARBLED_BODIES)}")

    @property
    def answers_normally(self) -> bool:
        return (
            not (self.hang or self.drop)
            and self.code is None
            and self.http_status == 200
            and self.garbled is None
        )


class FaultPlan:
    def __init__(self) -> None:
        self.task_defaults = TaskFaults()
        self.per_task: dict[str, TaskFaults] = {}
        self._endpoint_faults: list[EndpointFault] = []

    def set(self, **changes: Any) -> None:
        """Faults applied to every task created from now on (e.g. set(fail=(501, "boom")))."""
        self.task_defaults = self.task_defaults.copy(**changes)

    def set_for(self, task_id: str, **changes: Any) -> None:
        """Change one existing task's faults in place (e.g. set_for(id, fail=(400, "policy"),
        expired_result=True)); takes effect from its next status call, finish or result fetch."""
        target = self.per_task.setdefault(task_id, TaskFaults())
        for name, value in changes.items():
            if name not in TASK_FAULT_NAMES:
                raise ValueError(f"unknown task fault {name!r}; one of {TASK_FAULT_NAMES}")
            setattr(target, name, list(value) if name == "status_errors" else value)

    def inject(self, endpoint: str, **kwargs: Any) -> EndpointFault:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        fault = EndpointFault(endpoint, **kwargs)
        self._endpoint_faults.append(fault)
        return fault

    def clear(self) -> None:
        self.task_defaults = TaskFaults()
        self.per_task.clear()
        self._endpoint_faults.clear()

    def take(self, endpoint: str) -> EndpointFault | None:
        """The first active fault for this endpoint, counting one use of it."""
        for fault in self._endpoint_faults:
            if fault.endpoint in (endpoint, "*"):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._endpoint_faults.remove(fault)
                return fault
        return None

    def for_new_task(self, prompt: str) -> TaskFaults:
        return apply_markers(self.task_defaults.copy(), prompt)


def apply_markers(faults: TaskFaults, prompt: str) -> TaskFaults:
    for name, value in _MARKER_RE.findall(prompt or ""):
        if name == "fail":
            code_text, _, message = (value or "501").partition(":")
            faults.fail = (int(code_text or 501), message or "Simulated generation failure")
        elif name == "lose-callback":
            faults.lose_callback = True
        elif name == "double-callback":
            faults.duplicate_callback = True
        elif name == "delay":
            faults.delay_s = float(value or 1)
        elif name == "never":
            faults.never_finish = True
        elif name == "expired":
            faults.expired_result = True
        elif name == "large":
            faults.large_result_mb = float(value or 60)
        elif name == "slow":
            faults.slow_status_s = float(value or 1)
        elif name == "refuse":
            code_text, _, message = (value or "400").partition(":")
            faults.refuse_create = (int(code_text or 400), message or f"Simulated refusal {code_text}")
        elif name == "status-error":
            code_text, _, count = (value or "500").partition("x")
            faults.status_errors.extend([int(code_text)] * int(count or 1))
    return faults


TASK_FAULT_NAMES = tuple(f.name for f in fields(TaskFaults))
