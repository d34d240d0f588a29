"""The HTTP session to the Bot API: aiogram's AiohttpSession, trusting the system's CA store.

aiogram builds a TLS context of its own from certifi's bundle for every session (~0.7 MB of the
process, bench/bench_jobs.py section 3), while aiohttp already holds a verified context from the
system's store, loaded when aiohttp is imported; the KIE client uses that one. Where the system
has a CA bundle (every distribution, the python:3.11-slim image) Telegram gets the same one, so
the bot trusts one store for both services; where it has none, certifi's as before.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiohttp import TCPConnector

# aiogram's own values (aiogram/client/session/aiohttp.py, 3.31); tests/unit/test_http_session.py
# compares this session with aiogram's, so an aiogram upgrade that changes them fails there.
CONNECTION_LIMIT = 100
DNS_CACHE_TTL_S = 3600


def system_ca_available() -> bool:
    """True when OpenSSL's default verify paths hold a CA bundle or a certificate directory."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return True
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


def telegram_tls() -> ssl.SSLContext | bool:
    """`True` (aiohttp's verified context from the system store) when the system has CAs, else a
    context from certifi's bundle (what aiogram does by default)."""
    if system_ca_available():
        return True
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class TelegramHttpSession(AiohttpSession):
    """AiohttpSession without the TLS context it would build in __init__ (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        # AiohttpSession.__init__ minus its certifi context; proxies are not configurable here.
        BaseSession.__init__(self, **kwargs)
        self._session = None
        self._connector_type = TCPConnector
        self._connector_init = {
            "ssl": telegram_tls(),
            "limit": CONNECTION_LIMIT,
            "ttl_dns_cache": DNS_CACHE_TTL_S,
        }
        self._should_reset_connector = True
        self._proxy = None
