"""One task that refreshes the elapsed time on every waiting job's status message (job_status.py).

KIE may say nothing for minutes (above all in callback mode, where nothing is polled), so a waiting
status is re-shown every STATUS_REFRESH_SECONDS. One shared task serves all the jobs: per job it keeps
a small record (the status to show and when, not the Job, its card nor a coroutine of its own),
and each time it wakes it refreshes the jobs that are due. At most REFRESHES_IN_FLIGHT of its edits
wait in the outgoing queue at a time (edits are paced; hundreds of jobs due together would otherwise
all queue at once): the others wait their turn as a record, and are refreshed as the edits go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services.ports import JobStatus
from bot.store.db import now

log = logging.getLogger(__name__)

REFRESHES_IN_FLIGHT = 16


@dataclass(slots=True)
class Waiting:
    """A waiting job's status as the refresh shows it again."""

    status: JobStatus
    progress: int | None
    due: float  # time.monotonic() of the next refresh
    deadline_at: float  # the job's deadline (store clock): no refresh after it


# Renders and hands over one job's edit; None when there is nothing to send (the job ended).
Refresh = Callable[[int, Waiting], Awaitable[asyncio.Future[bool] | None]]


class StatusTicker:
    """The waiting jobs by id, and the one task refreshing them (started with the first, ended with
    the last). `refresh` renders and hands over one job's edit; it runs one job at a time."""

    def __init__(self, refresh_s: float, refresh: Refresh) -> None:
        self.refresh_s = refresh_s
        self.waiting: dict[int, Waiting] = {}
        self._refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(REFRESHES_IN_FLIGHT)

    def track(self, job_id: int, entry: Waiting) -> Waiting:
        """Refresh this job from now on; a job already tracked keeps its cadence, with the new
        status. Returns the entry in use."""
        current = self.waiting.get(job_id)
        if current is not None:
            current.status, current.progress = entry.status, entry.progress
            return current
        self.waiting[job_id] = entry
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="status-ticker")
        return entry

    def update(self, job_id: int, status: JobStatus, progress: int | None) -> None:
        """The status the next refresh shows (one the edit throttle held back), if the job is tracked."""
        entry = self.waiting.get(job_id)
        if entry is not None:
            entry.status, entry.progress = status, progress

    def forget(self, job_id: int, entry: Waiting | None = None) -> None:
        """Stop refreshing the job (only if `entry` is still its record, when given)."""
        if entry is None or self.waiting.get(job_id) is entry:
            self.waiting.pop(job_id, None)

    async def close(self) -> None:
        task, self._task = self._task, None
        self.waiting.clear()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _refresh_one(self, job_id: int, entry: Waiting) -> None:
        await self._slots.acquire()
        entry.due = time.monotonic() + self.refresh_s
        sent = None
        try:
            sent = await self._refresh(job_id, entry)
        except Exception:
            log.exception("Job %s: status refresh failed", job_id)
        finally:
            if sent is None:
                self._slots.release()
            else:
                sent.add_done_callback(lambda _sent: self._slots.release())

    async def _run(self) -> None:
        try:
            while self.waiting:
                t, wall = time.monotonic(), now()
                due: list[tuple[int, Waiting]] = []
                for job_id, entry in list(self.waiting.items()):
                    if wall >= entry.deadline_at:
                        del self.waiting[job_id]
                    elif entry.due <= t:
                        due.append((job_id, entry))
                for job_id, entry in due:
                    await self._refresh_one(job_id, entry)
                if self.waiting:
                    next_due = min(entry.due for entry in self.waiting.values())
                    await asyncio.sleep(max(0.0, next_due - time.monotonic()))
        finally:
            if self._task is asyncio.current_task():
                self._task = None
