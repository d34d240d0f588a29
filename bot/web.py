"""The aiohttp app: health, KIE callbacks, and the Telegram webhook in webhook mode."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot import __version__
from bot.services.tracker import CallbackRejected

if TYPE_CHECKING:
    from bot.app import Components

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/tg/webhook"
CALLBACK_ROUTE = "/kie/callback/{token}"


def build_web_app(components: Components) -> web.Application:
    app = web.Application()
    settings = components.settings

    async def healthz(request: web.Request) -> web.Response:
        database_ok = await components.db.ping()
        body = {"ok": database_ok, "database": database_ok, "version": __version__}
        return web.json_response(body, status=200 if database_ok else 503)

    app.router.add_get("/healthz", healthz)

    async def kie_callback(request: web.Request) -> web.Response:
        # Answer at once; the outcome is applied in the background (KIE waits at most 15 s).
        token = request.match_info["token"]
        raw = await request.read()
        try:
            job = await components.tracker.accept_callback(token, raw, request.headers)
        except CallbackRejected as exc:
            log.warning("KIE callback rejected (%s) from %s", exc.reason, request.remote)
            return web.json_response({"ok": False}, status=exc.status)
        log.info("KIE callback accepted for job %s", job.id)
        return web.json_response({"ok": True})

    app.router.add_post(CALLBACK_ROUTE, kie_callback)

    if settings.telegram_webhook:
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
