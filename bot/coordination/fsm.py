"""aiogram's RedisStorage on the application's shared Redis client."""

from __future__ import annotations

from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis


class SharedRedisStorage(RedisStorage):
    """RedisStorage whose `close()` leaves the client open: the dispatcher closes its storage when
    polling stops, while the tracker and the KIE limits still use the same client; the application
    closes the client last."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_s: float) -> None:
        # Keys `<prefix>:<chat>:<user>:<destiny>:state|data`; `prefix` holds the bot id.
        super().__init__(
            redis,
            key_builder=DefaultKeyBuilder(prefix=prefix, with_destiny=True),
            state_ttl=int(ttl_s),
            data_ttl=int(ttl_s),
        )

    async def close(self) -> None:
        return None
