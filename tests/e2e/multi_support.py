"""Several bot processes on one database: a load balancer in front of them, and the backends.

`Balancer` plays the reverse proxy of the scale-out recipe: PUBLIC_URL points at it, so Telegram's
webhook deliveries and KIE's callbacks reach whichever instance it picks, in turn, and an instance
that refuses the connection (it died) is skipped, as nginx's `proxy_next_upstream error` does.

`Backend` is where the instances keep their data: one SQLite file (always), or PostgreSQL + Redis
when the bot supports DATABASE_URL / REDIS_URL and the test servers are given (TEST_DATABASE_URL,
TEST_REDIS_URL); without them those parameters skip and say why.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.web import WEBHOOK_PATH
from tests import pg_support

Rows = list[tuple[Any, ...]]


@dataclass
class Routed:
    kind: str  # "telegram" | "kie"
    backend: int
    status: int | None


@dataclass
class Balancer:
    """Round robin over `backends` (host:port), per kind of request.

    `sticky_users`: Telegram updates of one user always go to the same live instance (for a backend
    whose wizard state is per process: SQLite without Redis); KIE callbacks always rotate.
    """

    backends: Sequence[str]
    sticky_users: bool = False
    routed: list[Routed] = field(default_factory=list)
    _turn: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _order(self, kind: str, body: bytes) -> list[int]:
        n = len(self.backends)
        if kind == "telegram" and self.sticky_users:
            first = _update_user(body) % n
        else:
            first = self._turn.get(kind, 0) % n
            self._turn[kind] = first + 1
        return [(first + i) % n for i in range(n)]

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        kind = "telegram" if request.path == WEBHOOK_PATH else "kie"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        for index in self._order(kind, body):
            url = f"http://{self.backends[index]}{request.rel_url}"
            try:
                async with self._session.request(
                    request.method, url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=20)
                ) as answer:
                    payload = await answer.read()
                    self.routed.append(Routed(kind, index, answer.status))
                    return web.Response(
                        status=answer.status, body=payload, content_type=answer.content_type
                    )
            except aiohttp.ClientConnectorError:
                continue  # that instance is down: the next one
            except (aiohttp.ClientError, TimeoutError):
                self.routed.append(Routed(kind, index, None))
                return web.Response(status=502, text="upstream failed mid-request")
        self.routed.append(Routed(kind, -1, None))
        return web.Response(status=502, text="no instance up")


def _update_user(body: bytes) -> int:
    try:
        update = json.loads(body)
    except ValueError:
        return 0
    for kind in ("message", "callback_query", "pre_checkout_query", "edited_message"):
        sender = (update.get(kind) or {}).get("from") or {}
        if "id" in sender:
            return int(sender["id"])
    return 0


# --- backends ---------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    rows: Callable[[str], Awaitable[Rows]]
    # Telegram updates of a user must reach one instance: wizard state and the per-user lock are
    # per process unless Redis shares them.
    sticky_users: bool


def shared_backend_unavailable() -> str | None:
    """Why the PostgreSQL + Redis backend cannot run here, or None when it can."""
    missing = [name for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL") if not os.environ.get(name)]
    if missing:
        return f"{' and '.join(missing)} not set (a throwaway PostgreSQL / Redis server for tests)"
    return None


@asynccontextmanager
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    path = tmp_path / "bot.sqlite3"

    async def rows(sql: str) -> Rows:
        if not path.exists():
            return []
        with sqlite3.connect(path, timeout=10) as conn:
            return [tuple(r) for r in conn.execute(sql)]

    yield Backend("sqlite", {"DATABASE_PATH": str(path)}, rows, sticky_users=True)


@asynccontextmanager
async def postgres_redis_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh, empty database on the test PostgreSQL server (the instances migrate it; dropped
    afterwards) and a key prefix of its own on the test Redis."""
    import psycopg

    def read(url: str, sql: str) -> Rows:
        with psycopg.connect(url) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    with pg_support.fresh_database(migrated=False) as url:

        async def rows(sql: str) -> Rows:
            return await asyncio.to_thread(read, url, sql)

        yield Backend(
            "postgres+redis",
            {
                "DATABASE_URL": url,
                "REDIS_URL": os.environ["TEST_REDIS_URL"],
                "REDIS_KEY_PREFIX": f"multi{uuid.uuid4().hex[:8]}",
                "DATABASE_PATH": str(tmp_path / "unused.sqlite3"),
            },
            rows,
            sticky_users=False,
        )


async def wait_rows(backend: Backend, sql: str, check: Callable[[Rows], bool], timeout: float = 30.0) -> Rows:
    """Read `sql` until `check` accepts the rows; fails with the last rows after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await backend.rows(sql)
        if check(rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {sql} -> {rows}")
        await asyncio.sleep(0.05)
