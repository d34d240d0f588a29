"""Tests against a real Redis: TEST_REDIS_URL names it (.ci/run starts one with
tools/ci/start-redis.sh); without it these tests skip and say why.

Every test gets a key prefix of its own (`redis_prefix`, or REDIS_KEY_PREFIX through `shared_state`)
and its keys are deleted afterwards, so tests can share one server and run at the same time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

SKIP_REASON = "Redis not available: set TEST_REDIS_URL (.ci/run starts one)"


def redis_url_from_env() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


def require_redis() -> str:
    url = redis_url_from_env()
    if url is None:
        pytest.skip(SKIP_REASON)
    return url


async def delete_prefix(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        await delete_prefix(redis_url, prefix)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def redis_overrides() -> AsyncIterator[dict[str, Any]]:
    """REDIS_URL and a REDIS_KEY_PREFIX of the test's own; its keys deleted afterwards."""
    url = require_redis()
    prefix = f"test-{secrets.token_hex(6)}"
    try:
        yield {"redis_url": url, "redis_key_prefix": prefix}
    finally:
        await delete_prefix(url, prefix)


@pytest.fixture(params=["in-process", "redis"])
async def shared_state(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Settings overrides for both ways of running: in-process (no REDIS_URL) and on Redis."""
    if request.param == "in-process":
        yield {}
        return
    async with redis_overrides() as overrides:
        yield overrides


@pytest.fixture
async def redis_settings() -> AsyncIterator[dict[str, Any]]:
    """Settings overrides for running on Redis only (several instances)."""
    async with redis_overrides() as overrides:
        yield overrides
