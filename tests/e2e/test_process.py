"""`python -m bot` as a real process: start errors, clean SIGTERM shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.i18n import translate
from tests.fakes.telegram import FakeTelegram, TgUser

ROOT = Path(__file__).resolve().parents[2]
# Each test starts `python -m bot`; on a busy 2-core machine `import aiogram` alone takes seconds of CPU.
pytestmark = pytest.mark.timeout(180)


def bot_env(**values: str) -> dict[str, str]:
    """A clean environment: only what the bot is given, so no developer setting leaks in."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
    }
    env.update(values)
    return env


async def run_bot(tmp_path: Path, env: dict[str, str], timeout: float = 30.0) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_missing_bot_token_exits_2_with_one_line(tmp_path: Path) -> None:
    code, stderr = await run_bot(tmp_path, bot_env(KIE_SANDBOX="true"))
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "BOT_TOKEN" in lines[0] and "Traceback" not in stderr


async def test_invalid_setting_exits_2_naming_it(tmp_path: Path) -> None:
    code, stderr = await run_bot(
        tmp_path, bot_env(BOT_TOKEN="123456:TEST-token_abc", KIE_SANDBOX="true", WEB_PORT="eighty")
    )
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "WEB_PORT" in stderr


async def test_missing_kie_key_exits_2_and_suggests_the_sandbox(tmp_path: Path) -> None:
    code, stderr = await run_bot(tmp_path, bot_env(BOT_TOKEN="123456:TEST-token_abc"))
    assert code == 2
    assert "KIE_API_KEY" in stderr and "KIE_SANDBOX" in stderr and stderr.strip().count("\n") == 0


async def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_TOKEN=123456:TEST-token_abc\nKIE_SANDBOX=true\nWEB_PORT=-5\n")
    code, stderr = await run_bot(tmp_path, bot_env())
    assert code == 2 and "WEB_PORT" in stderr, "the .env file was read"


async def test_corrupt_database_is_a_clear_start_error(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    db = tmp_path / "bot.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_SANDBOX="true",
        DATABASE_PATH=str(db),
        WEB_HOST="127.0.0.1",
        WEB_PORT="0",
    )
    code, stderr = await run_bot(tmp_path, env)
    assert code == 2
    assert "DATABASE_PATH" in stderr and "Traceback" not in stderr
    assert stderr.strip().count("\n") == 0, stderr


async def test_unreachable_redis_is_a_clear_start_error(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_SANDBOX="true",
        DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
        WEB_HOST="127.0.0.1",
        WEB_PORT="0",
        REDIS_URL=f"redis://:hunter2-pw@127.0.0.1:{port}/0",
    )
    code, stderr = await run_bot(tmp_path, env)
    assert code == 2, stderr
    assert "REDIS_URL" in stderr and f"127.0.0.1:{port}" in stderr and "Traceback" not in stderr, stderr
    assert "hunter2-pw" not in stderr
    assert stderr.strip().count("\n") == 0, stderr


async def test_unusable_database_path_is_a_clear_start_error(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_SANDBOX="true",
        DATABASE_PATH=str(blocker / "bot.sqlite3"),
        WEB_HOST="127.0.0.1",
        WEB_PORT="0",
    )
    code, stderr = await run_bot(tmp_path, env)
    assert code == 2 and "DATABASE_PATH" in stderr and "Traceback" not in stderr, stderr


async def test_unreachable_postgresql_is_a_clear_start_error(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_SANDBOX="true",
        DATABASE_URL=f"postgresql://bot:s3cret-pw@127.0.0.1:{port}/bot",
        DATABASE_PATH=str(tmp_path / "unused.sqlite3"),
        WEB_HOST="127.0.0.1",
        WEB_PORT="0",
    )
    code, stderr = await run_bot(tmp_path, env)
    assert code == 2 and "Traceback" not in stderr, stderr
    assert stderr.strip().count("\n") == 0, stderr
    assert f"DATABASE_URL=postgresql://bot:***@127.0.0.1:{port}/bot cannot be used" in stderr, stderr
    assert "s3cret-pw" not in stderr
    assert not (tmp_path / "unused.sqlite3").exists()


async def test_invalid_database_url_exits_2_naming_it(tmp_path: Path) -> None:
    env = bot_env(
        BOT_TOKEN="123456:TEST-token_abc", KIE_SANDBOX="true", DATABASE_URL="mysql://root@localhost/bot"
    )
    code, stderr = await run_bot(tmp_path, env)
    assert code == 2 and "DATABASE_URL" in stderr and "postgresql://" in stderr, stderr
    assert stderr.strip().count("\n") == 0, stderr


async def test_sigterm_while_a_handler_runs_loses_nothing(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_SANDBOX="true",
        DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
        WEB_HOST="127.0.0.1",
        WEB_PORT="0",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake_tg.wait_until(lambda: fake_tg.parked_polls > 0, timeout=20)
        release = fake_tg.hold_next("sendMessage")
        user = fake_tg.as_user(TgUser(id=7001, first_name="Tess"))
        await user.send_text("/start")
        # The handler is now inside sendMessage, parked by the fake.
        await fake_tg.wait_until(lambda: fake_tg.held == 1, timeout=20)
        process.send_signal(signal.SIGTERM)
        # It stops taking updates at once...
        await fake_tg.wait_until(lambda: fake_tg.parked_polls == 0, timeout=20)
        # ...but waits for the running handler instead of cutting it off.
        assert process.returncode is None
        release.set()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    replies = [c for c in fake_tg.calls_of("sendMessage") if c.params.get("chat_id") == 7001]
    assert len(replies) == 1 and replies[0].ok
    assert replies[0].params["text"] == translate("start-greeting", "en", name="Tess")
    # The handled update was acknowledged, so the next start does not answer /start twice.
    assert fake_tg.pending_updates == []
    assert "Traceback" not in stderr.decode()


async def test_models_command_prints_the_catalog_without_a_bot_token(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "models",
        "--json",
        cwd=tmp_path,
        env=bot_env(PRICE_MARKUP="1.5"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    entries = json.loads(stdout)
    keys = {e["key"] for e in entries}
    assert {"veo_fast", "sora2", "kling25", "runway", "aleph", "luma", "wan_s2v"} <= keys
    # issue 12: the 2026 model ids are listed and orderable; Sora 2 is listed as retired, not orderable.
    orderable_ids = {spec["kie_model"] for e in entries if e["orderable"] for spec in e["modes"].values()}
    assert {"bytedance/seedance-2", "bytedance/seedance-2-fast", "bytedance/seedance-2-5", "kling-3.0/video",
            "minimax-h3/text-to-video", "minimax-h3/image-to-video", "wan/2-6-text-to-video",
            "wan/2-6-image-to-video", "veo3_lite"} <= orderable_ids
    assert not any(model_id.startswith("sora") for model_id in orderable_ids)
    for sora in (e for e in entries if e["key"] in ("sora2", "sora2_pro")):
        assert sora["orderable"] is False and sora["retired"]["date"] == "2026-09-24"
    kling = next(e for e in entries if e["key"] == "kling25")
    assert kling["min_kie_credits"] == 42 and kling["min_user_credits"] == 63  # 42 x 1.5
    table = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "models",
        cwd=tmp_path,
        env=bot_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    text, _ = await asyncio.wait_for(table.communicate(), 30)
    assert table.returncode == 0 and b"kling/v2-5-turbo-text-to-video-pro" in text


async def test_webhook_mode_without_a_secret_refuses_to_start(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    # Without a secret anyone who can reach /tg/webhook could post a /grant "from" an admin or a
    # successful_payment and mint credits: the bot must not start that way.
    for secret_line in ({}, {"WEBHOOK_SECRET": ""}):
        env = bot_env(
            BOT_TOKEN=fake_tg.token,
            TELEGRAM_API_BASE=fake_tg.base_url,
            KIE_SANDBOX="true",
            TELEGRAM_WEBHOOK="true",
            PUBLIC_URL="http://127.0.0.1:9",
            ADMIN_IDS="9101",
            DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
            WEB_HOST="127.0.0.1",
            WEB_PORT="0",
            **secret_line,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr_bytes = await asyncio.wait_for(process.communicate(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError("the bot started in webhook mode without WEBHOOK_SECRET") from None
        stderr = stderr_bytes.decode()
        assert process.returncode == 2, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert "WEBHOOK_SECRET" in lines[0] and "secrets.token_urlsafe(32)" in lines[0]
        # It never told Telegram to push updates here.
        assert fake_tg.webhook_url is None


async def test_bad_catalog_overrides_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text("[models.kling26]\nmarkup = 0\n", encoding="utf-8")
    code, stderr = await run_bot(
        tmp_path,
        bot_env(BOT_TOKEN="123456:TEST-token_abc", KIE_SANDBOX="true", CATALOG_OVERRIDES_FILE=str(overrides)),
    )
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "CATALOG_OVERRIDES_FILE" in lines[0] and "models.kling26.markup" in lines[0]


async def test_models_command_shows_the_menu_shaped_by_the_overrides(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        'order = ["wan25"]\n[models.kling25]\nhidden = true\n[models.kling26]\nname = { en = "Kling S" }\n'
        'new = true\n[[models.kling26.price]]\nmode = "t2v"\noptions = { sound = "off" }\ncredits = 11\n',
        encoding="utf-8",
    )
    env = bot_env(CATALOG_OVERRIDES_FILE=str(overrides))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "models", "--json", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    entries = json.loads(stdout)
    assert entries[0]["key"] == "wan25"
    by_key = {e["key"]: e for e in entries}
    assert by_key["kling25"]["offered"] is False and by_key["wan25"]["offered"] is True
    kling = by_key["kling26"]
    # "new" added by the file; "recommended" is the catalog's own mark on Kling 2.6, kept.
    assert kling["names"]["en"] == "Kling S" and kling["badges"] == ["new", "recommended"]
    fixed = [p for p in kling["modes"]["t2v"]["prices"] if p["options"] == {"duration": "5", "sound": "off"}]
    assert fixed[0]["user_credits"] == 11
    table = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "models", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    text, _ = await asyncio.wait_for(table.communicate(), 30)
    assert table.returncode == 0
    # Everything but the hidden Kling 2.5 and the retired entries.
    offered = sum(1 for e in entries if e["key"] != "kling25" and e["retired"] is None)
    assert text.decode().startswith(f"{offered} models offered")
    assert "hidden (not offered): kling25" in text.decode() and "🆕 ⭐ Kling S" in text.decode()
    overrides.write_text("[models.nope]\nhidden = true\n", encoding="utf-8")
    bad = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "models", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, bad_err = await asyncio.wait_for(bad.communicate(), 30)
    assert bad.returncode == 2 and "models.nope" in bad_err.decode() and bad_err.decode().count("\n") == 1
