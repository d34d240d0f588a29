"""The aiohttp app: health, KIE callbacks, and the Telegram webhook in webhook mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot import __version__

if TYPE_CHECKING:
    from bot.app import Components

WEBHOOK_PATH = "/tg/webhook"
KIE_CALLBACK_PATH = "/kie/callback/{token}"


def build_web_app(components: Components) -> web.Application:
    app = web.Application()
    settings = components.settings

    async def healthz(request: web.Request) -> web.Response:
        database_ok = await components.db.ping()
        body = {"ok": database_ok, "database": database_ok, "version": __version__}
        return web.json_response(body, status=200 if database_ok else 503)

    app.router.add_get("/healthz", healthz)

    callback_handler = getattr(components, "kie_callback_handler", None)
    if callback_handler is not None:
        app.router.add_post(KIE_CALLBACK_PATH, callback_handler)

    if settings.telegram_webhook:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        SimpleRequestHandler(
            dispatcher=components.dispatcher,
            bot=components.bot,
            secret_token=secret,
            handle_in_background=True,
        ).register(app, path=WEBHOOK_PATH)
    return app
