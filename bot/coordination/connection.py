"""Opening the Redis connection at start: a bad REDIS_URL or a Redis that does not answer stops the
bot with one line (`RedisUnavailable`), never a traceback."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    # Imported where a client is made: a deployment without REDIS_URL never loads redis-py.
    from redis.asyncio import Redis

# How long one connect or command may take before it fails (a hung Redis must not hang an update).
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0


def raise_if_cancelled() -> None:
    """Re-raise a cancellation a Redis call swallowed.

    redis-py 8.1 sometimes lets a command finish normally when its task is cancelled while the command
    is in flight (measured: ~5 % of cancels that land mid-command). A loop around Redis calls would then
    run on after `task.cancel()`, and whoever awaits the task would wait forever. Called after each
    Redis call in such loops: the task still counts the request (`cancelling()`), so it stops here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RedisUnavailable(Exception):
    """REDIS_URL is invalid or Redis did not answer; the message is one line for the operator."""


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "REDIS_URL"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def connect_redis(url: str) -> Redis:
    """A client for `url` that has answered a PING."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            health_check_interval=30,
        )
    except (ValueError, TypeError) as exc:
        raise RedisUnavailable(
            f"REDIS_URL is invalid: {exc} (expected redis://[:password@]host:port/db)"
        ) from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RedisUnavailable(
            f"Redis at {describe_url(url)} did not answer ({reason}): start it or fix REDIS_URL, "
            "or unset REDIS_URL to run one instance without Redis"
        ) from None
    return client
