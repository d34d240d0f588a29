"""The Bot API session: aiogram's AiohttpSession with the system's CA store instead of its own."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.telegram import http_session
from bot.telegram.http_session import TelegramHttpSession, telegram_tls


def without_tls(session: AiohttpSession) -> dict[str, Any]:
    state = dict(vars(session))
    state["_connector_init"] = {k: v for k, v in state["_connector_init"].items() if k != "ssl"}
    state.pop("api")
    state.pop("middleware")
    return state


def test_same_state_as_aiograms_session_but_the_tls_context() -> None:
    # The subclass sets aiogram's private attributes itself: an aiogram upgrade that adds or changes
    # one fails here instead of in production.
    api = TelegramAPIServer.from_base("http://127.0.0.1:1")
    ours, theirs = TelegramHttpSession(api=api), AiohttpSession(api=api)
    assert without_tls(ours) == without_tls(theirs)
    assert ours.api == theirs.api
    assert isinstance(theirs._connector_init["ssl"], ssl.SSLContext)


def test_system_store_when_there_is_one_else_certifi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    store = ssl.DefaultVerifyPaths(str(bundle), "", "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")
    monkeypatch.setattr(http_session.ssl, "get_default_verify_paths", lambda: store)
    assert telegram_tls() is True  # aiohttp's verified context from the system store

    nothing = ssl.DefaultVerifyPaths("", str(tmp_path / "none"), "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")
    monkeypatch.setattr(http_session.ssl, "get_default_verify_paths", lambda: nothing)
    context = telegram_tls()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # certifi's bundle
