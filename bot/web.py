"""The aiohttp app: health, KIE callbacks, and the Telegram webhook in webhook mode."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

from aiohttp import web

from bot import __version__
from bot.kie.webhook_auth import CALLBACK_PATH_PREFIX
from bot.services.tracker import CallbackRejected

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.app import Components

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/tg/webhook"
CALLBACK_ROUTE = CALLBACK_PATH_PREFIX + "{token}"
# KIE callbacks are a few KB of JSON; anything much bigger is not one.
CALLBACK_MAX_BYTES = 256 * 1024


class BodyRefused(Exception):
    """The request body was too slow or too large; `status` is the answer (408 or 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: web.Request, *, limit: int, timeout_s: float) -> bytes:
    """The whole body, or BodyRefused when it is over `limit` bytes or not in within `timeout_s`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyRefused(413, f"body of {declared} bytes is over {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"body is over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, f"body not received within {timeout_s:g} s") from None
    return b"".join(chunks)


async def refuse_and_close(request: web.Request, status: int) -> web.Response:
    """Answer `status` and close the connection without reading the rest of the body.

    By default aiohttp would keep reading an unread body for up to 10 s after the answer
    ("lingering"), which is exactly what a slow sender wants.
    """
    response = web.json_response({"ok": False}, status=status)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # flushes the answer, then closes; skips lingering
    return response


class RejectionLog:
    """Logs rejected KIE callbacks at most once per interval, so a flood cannot fill the disk.

    The first rejection after a quiet interval is logged in full; the ones that follow within
    the interval are counted, and one line per interval reports the count and the reasons.
    """

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._counted: Counter[str] = Counter()
        self._last_remote: str | None = None
        self._window_timer: asyncio.TimerHandle | None = None

    def record(self, reason: str, remote: str | None) -> None:
        if self._window_timer is None:
            self.logger.warning(
                "KIE callback rejected (%s) from %s; more in the next %g s are counted, not logged",
                reason,
                remote,
                self.interval_s,
            )
            self._start_window()
            return
        self._counted[reason] += 1
        self._last_remote = remote

    def _start_window(self) -> None:
        loop = asyncio.get_running_loop()
        self._window_timer = loop.call_later(self.interval_s, self._end_window)

    def _end_window(self) -> None:
        self._window_timer = None
        if self.flush():
            # Still flooding: keep counting instead of logging the next one in full.
            self._start_window()

    def flush(self) -> bool:
        """Log the count of rejections not logged yet; False when there were none."""
        total = sum(self._counted.values())
        if not total:
            return False
        reasons = ", ".join(f"{reason} x{n}" for reason, n in self._counted.most_common())
        self.logger.warning(
            "%d KIE callbacks rejected in the last %g s (last from %s): %s",
            total,
            self.interval_s,
            self._last_remote,
            reasons,
        )
        self._counted.clear()
        return True

    def close(self) -> None:
        if self._window_timer is not None:
            self._window_timer.cancel()
            self._window_timer = None
        self.flush()


async def redis_ping(redis: Redis, timeout_s: float = 2.0) -> bool:
    from redis.exceptions import RedisError  # loaded already: `redis` is a client

    try:
        async with asyncio.timeout(timeout_s):
            await redis.ping()
    except (RedisError, OSError, TimeoutError):
        return False
    return True


def build_web_app(components: Components) -> web.Application:
    app = web.Application()
    settings = components.settings

    async def healthz(request: web.Request) -> web.Response:
        database_ok = await components.db.ping()
        body: dict[str, object] = {"ok": database_ok, "database": database_ok, "version": __version__}
        if components.redis is not None:
            # With REDIS_URL the wizards and locks live there: no Redis, no working bot.
            body["redis"] = redis_ok = await redis_ping(components.redis)
            body["ok"] = database_ok and redis_ok
        return web.json_response(body, status=200 if body["ok"] else 503)

    app.router.add_get("/healthz", healthz)

    rejections = RejectionLog(log, settings.kie_callback_log_interval_s)

    async def kie_callback(request: web.Request) -> web.Response:
        # Answer at once; the outcome is applied in the background (KIE waits at most 15 s).
        token = request.match_info["token"]
        try:
            raw = await read_body(
                request, limit=CALLBACK_MAX_BYTES, timeout_s=settings.kie_callback_read_timeout_s
            )
        except BodyRefused as exc:
            rejections.record(exc.reason, request.remote)
            return await refuse_and_close(request, exc.status)
        try:
            job = await components.tracker.accept_callback(token, raw, request.headers)
        except CallbackRejected as exc:
            rejections.record(exc.reason, request.remote)
            return web.json_response({"ok": False}, status=exc.status)
        log.info("KIE callback accepted for job %s", job.id)
        return web.json_response({"ok": True})

    app.router.add_post(CALLBACK_ROUTE, kie_callback)

    async def flush_rejections(_: web.Application) -> None:
        rejections.close()

    app.on_cleanup.append(flush_rejections)

    if settings.telegram_webhook:
        # Imported here: a polling bot (the default) never loads aiogram's webhook server.
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler

        # Settings refuse webhook mode without a secret; SimpleRequestHandler answers 401 to a
        # request without it and compares it in constant time (secrets.compare_digest).
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        SimpleRequestHandler(
            dispatcher=components.dispatcher,
            bot=components.bot,
            secret_token=secret,
            handle_in_background=True,
        ).register(app, path=WEBHOOK_PATH)
    return app
