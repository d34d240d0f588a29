"""Work only one instance may do at a time (the Telegram long poll), under a renewed lease.

Telegram answers 409 Conflict to a second getUpdates, so with several instances in long-polling mode
one of them, the leader, polls; the others serve KIE callbacks, poll KIE and deliver like the leader,
and try for the lease every third of its time, taking over once the leader stops renewing it (it
died, or lost its database). In webhook mode every instance serves and nobody leads.

`LeaderLock` is the lease: bot/store/leases.py keeps it in the database; a Redis one can stand in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    async def acquire(self, ttl_s: float) -> bool:
        """Take the lease for ttl_s if it is free, expired or already ours."""

    async def renew(self, ttl_s: float) -> bool:
        """Extend our lease; False if it is not ours any more."""

    async def release(self) -> None:
        """Give it up now."""


class Leadership:
    """Runs `lead()` while this instance holds `lock`; `step_down()` ends it when the lease is lost.

    `lead` runs until it returns or is stopped; `step_down` stops it gracefully (the long poll's
    stop_polling). Renewal every ttl_s / 3 leaves two chances before the lease runs out.
    """

    def __init__(
        self,
        lock: LeaderLock,
        *,
        lead: Callable[[], Coroutine[Any, Any, None]],
        step_down: Callable[[], Awaitable[None]],
        ttl_s: float,
    ) -> None:
        self.lock = lock
        self.lead = lead
        self.step_down = step_down
        self.ttl_s = ttl_s
        self.leading = False
        self.led = False  # led at some point (the long poll has updates to confirm at shutdown)
        self.changed = asyncio.Event()  # set on every change of `leading` (tests)
        self._stop = asyncio.Event()

    @property
    def every_s(self) -> float:
        return self.ttl_s / 3

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until stop(): lead whenever the lease can be had. Raises what `lead` raised."""
        while not self._stop.is_set():
            try:
                acquired = await self.lock.acquire(self.ttl_s)
            except Exception as exc:
                log.warning("Leader lease: acquire failed (%s); retrying", exc)
                acquired = False
            if acquired:
                await self._lead_while_held()
            else:
                await self._sleep(self.every_s)

    async def _lead_while_held(self) -> None:
        log.info("Leader lease taken: this instance polls Telegram")
        self._set_leading(True)
        work = asyncio.create_task(self.lead(), name="leader-work")
        stop_waiter = asyncio.create_task(self._stop.wait())
        ended_by_itself = False
        try:
            while True:
                await asyncio.wait(
                    {work, stop_waiter}, timeout=self.every_s, return_when=asyncio.FIRST_COMPLETED
                )
                if work.done() or self._stop.is_set():
                    ended_by_itself = work.done()
                    break
                try:
                    renewed = await self.lock.renew(self.ttl_s)
                except Exception as exc:
                    log.warning("Leader lease: renewal failed (%s)", exc)
                    renewed = False
                if not renewed:
                    log.warning("Leader lease lost: this instance stops polling Telegram")
                    break
        finally:
            stop_waiter.cancel()
            if not work.done():
                with contextlib.suppress(Exception):
                    await self.step_down()
                done, _ = await asyncio.wait({work}, timeout=self.ttl_s)
                if not done:
                    work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work})
            self._set_leading(False)
            with contextlib.suppress(Exception):
                await self.lock.release()
        if not work.cancelled() and (error := work.exception()) is not None:
            raise error
        if ended_by_itself:
            # `lead` ended by itself (not stepped down): nothing to lead any more.
            self._stop.set()

    def _set_leading(self, leading: bool) -> None:
        self.leading = leading
        self.led = self.led or leading
        self.changed.set()
        self.changed = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
