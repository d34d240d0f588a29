"""Each Telegram update handled once, even when it arrives twice.

Telegram delivers an update again when it did not get our answer in time (a webhook retry) and
replays unconfirmed ones after a restart in long-polling mode; with several instances the second
delivery may reach another instance. `claim(update_id)` is True for exactly one caller: the one that
handles it. `done(update_id)` marks it handled.

`LocalUpdateClaims` remembers the last ids in the process (one instance). `RedisUpdateClaims` claims
`<prefix>:update:<id>` with SET NX and an expiry, in two steps: a claim lasts `processing_s` (if the
instance dies while handling, the update may be handled again after that), `done` keeps it for
`keep_s` (an hour: Telegram's retries of a delivery it thinks failed come within minutes, and a few
bytes per update an hour stays small at any traffic). When Redis
fails, the update is handled (at worst twice: the money movements are idempotent by their op ids).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # Only the Redis implementation needs redis-py; a deployment without REDIS_URL never loads it.
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

LOCAL_KEPT = 10_000
PROCESSING_S = 300.0
KEEP_S = 3600.0


class UpdateClaims(Protocol):
    async def claim(self, update_id: int) -> bool: ...

    async def done(self, update_id: int) -> None: ...


class LocalUpdateClaims:
    """The last `kept` update ids seen by this process."""

    def __init__(self, kept: int = LOCAL_KEPT) -> None:
        self.kept = kept
        self._seen: OrderedDict[int, None] = OrderedDict()

    async def claim(self, update_id: int) -> bool:
        if update_id in self._seen:
            self._seen.move_to_end(update_id)
            return False
        self._seen[update_id] = None
        while len(self._seen) > self.kept:
            self._seen.popitem(last=False)
        return True

    async def done(self, update_id: int) -> None:
        return None


class RedisUpdateClaims:
    def __init__(
        self, redis: Redis, prefix: str, *, processing_s: float = PROCESSING_S, keep_s: float = KEEP_S
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.processing_ms = int(processing_s * 1000)
        self.keep_ms = int(keep_s * 1000)

    def key(self, update_id: int) -> str:
        return f"{self.prefix}:update:{update_id}"

    async def claim(self, update_id: int) -> bool:
        from redis.exceptions import RedisError

        try:
            claimed = await self.redis.set(self.key(update_id), b"handling", nx=True, px=self.processing_ms)
        except RedisError as exc:
            log.warning("Update %s not checked for a duplicate (Redis: %s); handling it", update_id, exc)
            return True
        return bool(claimed)

    async def done(self, update_id: int) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.set(self.key(update_id), b"done", xx=True, px=self.keep_ms)
        except RedisError as exc:
            log.warning("Update %s not marked handled (Redis: %s)", update_id, exc)
