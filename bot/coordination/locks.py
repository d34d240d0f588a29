"""One update per user at a time: the lock the wizard holds while it reads and changes a draft.

`LocalUserLocks` (one instance): an asyncio.Lock per user. `RedisUserLocks` (several instances): the
same asyncio.Lock first, so the waiters of one process queue in order and only the head of the line
asks Redis, then a Redis lock (redis.asyncio's Lock: SET NX PX with a random token, released by a
script that checks the token). The Redis lock has a lease: while its holder runs, a background task
renews it every third of the lease; a holder that died (SIGKILL, lost network) stops renewing and its
lock expires within one lease, so no user waits on a dead instance for longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from bot.coordination.connection import raise_if_cancelled

if TYPE_CHECKING:
    # redis-py is imported by the Redis implementation only (a client exists, so it is loaded).
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

log = logging.getLogger(__name__)

LEASE_S = 30.0
# A user's update waits this long for the lock; then it fails (the error router answers it).
WAIT_S = 60.0
POLL_S = 0.02


class UserLockTimeout(Exception):
    """The user's lock stayed taken for longer than the wait allows."""


class UserLocks(Protocol):
    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        """Held while one update of `user_id` is handled."""
        ...


class KeyedLocks:
    """An asyncio.Lock per key, kept only while a coroutine holds it or waits for it (the holder and
    the waiters keep it alive): memory for the keys in use, not for every key ever seen."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, key: int) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def __len__(self) -> int:
        return len(self._locks)


class LocalUserLocks:
    """In-process: enough while one process serves every update of a user."""

    def __init__(self) -> None:
        self._locks = KeyedLocks()

    def local_lock(self, user_id: int) -> asyncio.Lock:
        return self._locks.lock(user_id)

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        async with self.local_lock(user_id):
            yield


class RedisUserLocks:
    """Across instances: the key `<prefix>:lock:user:<id>` in Redis, with a renewed lease."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        lease_s: float = LEASE_S,
        wait_s: float = WAIT_S,
        poll_s: float = POLL_S,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._local = LocalUserLocks()

    def key(self, user_id: int) -> str:
        return f"{self.prefix}:lock:user:{user_id}"

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        from redis.asyncio.lock import Lock
        from redis.exceptions import LockError, RedisError

        async with self._local.local_lock(user_id):
            lock = Lock(
                self.redis,
                self.key(user_id),
                timeout=self.lease_s,
                sleep=self.poll_s,
                blocking_timeout=self.wait_s,
                thread_local=False,
            )
            if not await lock.acquire():
                raise UserLockTimeout(f"user {user_id}'s lock is still taken after {self.wait_s:g} s")
            try:
                raise_if_cancelled()
            except asyncio.CancelledError:
                with contextlib.suppress(LockError, RedisError):
                    await lock.release()
                raise
            renewal = asyncio.create_task(self._renew(lock, user_id), name=f"user-lock-{user_id}")
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewal
                try:
                    await lock.release()
                except LockError:
                    log.warning("User %s's lock had expired before its update was done", user_id)
                except RedisError as exc:
                    log.warning("User %s's lock was not released (%s); it expires by itself", user_id, exc)

    async def _renew(self, lock: Lock, user_id: int) -> None:
        from redis.exceptions import LockError, RedisError

        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await lock.reacquire()
                raise_if_cancelled()
            except LockError:
                log.warning("User %s's lock was lost while held (its lease ran out)", user_id)
                return
            except RedisError as exc:
                log.warning("Renewing user %s's lock failed (%s); trying again", user_id, exc)
