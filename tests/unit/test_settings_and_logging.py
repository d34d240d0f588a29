"""Settings validation and the secret-redacting log filter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import SettingsError, StarPack, load_settings
from bot.logging_setup import RedactingFilter, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
KIE_KEY = "kie-secret-key-0123456789"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: a BOT_TOKEN set on the machine must not change these tests."""
    from bot.config import Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def settings(**values: object):  # type: ignore[no-untyped-def]
    return load_settings(_env_file=None, **values)


def test_minimal_valid_settings() -> None:
    s = settings(bot_token=TOKEN, kie_api_key=KIE_KEY)
    assert s.kie_api_base == "https://api.kie.ai"
    assert s.database_path.name == "bot.sqlite3"
    assert s.telegram_webhook is False


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"kie_api_key": KIE_KEY}, "BOT_TOKEN"),
        ({"bot_token": "not-a-token", "kie_api_key": KIE_KEY}, "BOT_TOKEN"),
        ({"bot_token": TOKEN}, "KIE_API_KEY"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "web_port": 70000}, "WEB_PORT"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "admin_ids": "12,abc"}, "ADMIN_IDS"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "star_packs": "50-50"}, "STAR_PACKS"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "star_packs": "5000:10"}, "STAR_PACKS"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "price_markup": 0}, "PRICE_MARKUP"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "public_url": "ftp://x"}, "PUBLIC_URL"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "telegram_webhook": True}, "PUBLIC_URL"),
        ({"bot_token": TOKEN, "kie_sandbox": True, "webhook_secret": "bad secret!"}, "WEBHOOK_SECRET"),
        (
            {
                "bot_token": TOKEN,
                "kie_sandbox": True,
                "telegram_webhook": True,
                "public_url": "https://x.org",
            },
            "WEBHOOK_SECRET",
        ),
    ],
)
def test_bad_settings_give_one_line_naming_the_setting(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings(**values)
    message = str(error.value)
    assert named in message and "\n" not in message


def test_lists_are_parsed() -> None:
    s = settings(bot_token=TOKEN, kie_sandbox=True, admin_ids="1, 22,333", star_packs="10:11,20:25")
    assert s.admin_ids == frozenset({1, 22, 333})
    assert s.star_packs == (StarPack(10, 11), StarPack(20, 25))


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("KIE_SANDBOX", "true")
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT", "7")
    assert settings().max_jobs_in_flight == 7


def test_secret_values_are_not_in_the_repr() -> None:
    s = settings(bot_token=TOKEN, kie_api_key=KIE_KEY)
    assert TOKEN not in repr(s) and KIE_KEY not in repr(s)


@pytest.mark.allow_handler_errors  # it logs an exception from a "bot" logger on purpose
def test_redaction_filter_removes_secrets_from_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    redactor = RedactingFilter([TOKEN, KIE_KEY])
    caplog.handler.addFilter(redactor)
    try:
        for name in ("aiogram.event", "httpx", "bot.services.generation", "aiohttp.client"):
            logging.getLogger(name).warning(
                "GET https://api.telegram.org/file/bot%s/photos/file_1.jpg with key %s", TOKEN, KIE_KEY
            )
        other_token = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
        logging.getLogger("x").error("another bot token %s appears", other_token)
        try:
            raise RuntimeError(f"failed calling https://api.telegram.org/bot{TOKEN}/getMe")
        except RuntimeError:
            logging.getLogger("bot.app").exception("boom")
    finally:
        caplog.handler.removeFilter(redactor)
    text = caplog.text
    assert TOKEN not in text and KIE_KEY not in text and "987654321:ZZH" not in text
    assert text.count("***") >= 6
    assert "photos/file_1.jpg" in text, "the rest of the line stays readable"


def test_setup_logging_installs_the_filter_and_quiets_httpx(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging("INFO", [TOKEN])
        logging.getLogger("aiogram.dispatcher").info("Run polling for bot token %s", TOKEN)
        logging.getLogger("httpx").info("HTTP Request: GET https://api.telegram.org/bot%s/x", TOKEN)
        err = capsys.readouterr().err
        assert "Run polling for bot token ***" in err
        assert "HTTP Request" not in err, "httpx INFO lines (full URLs) are not logged"
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_env_example_documents_every_setting_and_loads(tmp_path: Path) -> None:
    import re

    from bot.config import Settings

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} == documented
    filled = text.replace("BOT_TOKEN=\n", f"BOT_TOKEN={TOKEN}\n").replace(
        "KIE_API_KEY=\n", f"KIE_API_KEY={KIE_KEY}\n"
    )
    env_file = tmp_path / ".env"
    env_file.write_text(filled)
    loaded = load_settings(_env_file=env_file)
    assert loaded.kie_api_key is not None and loaded.kie_api_key.get_secret_value() == KIE_KEY
