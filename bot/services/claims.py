"""This instance's hold on jobs when several instances share one database.

Each unit of job work (a submission, a status check, a delivery) is claimed by one instance for
`lease_s` (store/jobs.py: the claim statements); work that runs longer renews its lease every third
of it. An instance that dies stops renewing, its leases run out, and another instance claims the
work again. At start an instance ends the leases of its previous life at once (same instance id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.store.db import now
from bot.store.jobs import Claim

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0


def default_instance_id(web_port: int) -> str:
    """hostname:port names one live process (two cannot serve the same port on one host) and the
    same process again after a restart, which then takes its old leases back at once."""
    host = socket.gethostname() or "localhost"
    return f"{host}:{web_port}" if web_port else f"{host}:pid{os.getpid()}"


@dataclass(frozen=True)
class Holder:
    """Who this instance is on the leases it takes, and how long they last without renewal."""

    instance_id: str = "local"
    lease_s: float = DEFAULT_LEASE_S

    @property
    def renew_every_s(self) -> float:
        return self.lease_s / 3

    def claim(self, at: float | None = None) -> Claim:
        t = now() if at is None else at
        return Claim(self.instance_id, t, t + self.lease_s)


@contextlib.asynccontextmanager
async def renewing(renew: Callable[[], Awaitable[bool]], every_s: float, what: str) -> AsyncIterator[None]:
    """Renew a lease every `every_s` while the body runs (a long upload or download)."""

    async def keep() -> None:
        while True:
            try:
                if not await renew():
                    log.warning("%s: the lease is not ours any more", what)
                    return
            except Exception as exc:
                log.warning("%s: lease renewal failed: %s", what, exc)
            await asyncio.sleep(every_s)

    # The keeper task starts only when the first renewal is due: most bodies (a delivery of a usual
    # clip) end well before that, and under a burst a task per body is loop time for nothing.
    keeper: asyncio.Task[None] | None = None

    def start() -> None:
        nonlocal keeper
        keeper = asyncio.create_task(keep(), name=f"lease-{what}")

    timer = asyncio.get_running_loop().call_later(every_s, start)
    try:
        yield
    finally:
        timer.cancel()
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
