"""Result URLs from a callback are downloaded only from public http(s) addresses.

Every test runs on 127.0.0.1, so make_settings allows exactly the simulator's host:port; these
tests show that nothing else on 127.0.0.1 (the bot's own /healthz, another port behind a redirect)
and no private, link-local or non-http URL is fetched: the job fails, is refunded once, the user is
told, and no video is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from tests.e2e.harness import free_port, make_settings, running_bot
from tests.e2e.jobs_support import (
    books_balance,
    ledger_for_job,
    order_job,
    prepare_user,
    wait_job_state,
    wait_status,
)
from tests.fakes.telegram import FakeTelegram

USER = 5401


class Recorder:
    """A tiny HTTP server that records every request it gets (it must get none)."""

    def __init__(self, handler: Callable[[web.Request], web.StreamResponse] | None = None) -> None:
        self.hits: list[str] = []
        self._handler = handler
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        if self._handler is not None:
            return self._handler(request)
        return web.Response(body=b"\x00\x00\x00\x18ftypmp42 secret internal data", content_type="video/mp4")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def internal() -> AsyncIterator[Recorder]:
    server = Recorder()
    await server.start()
    yield server
    await server.stop()


async def _forge_success(port: int, token: str, task_id: str, url: str) -> None:
    body = {
        "code": 200,
        "msg": "Playground task completed successfully.",
        "data": {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": [url]})},
    }
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"http://127.0.0.1:{port}/kie/callback/{token}", json=body)
    assert answer.status_code == 200


async def _refused(
    fake_tg: FakeTelegram,
    sim: KieSimulator,
    tmp_path: Path,
    url: str | Callable[[int], str],
    **settings: object,
) -> float:
    """Run one job whose callback names `url`; check it failed and was refunded once. Returns seconds."""
    config = make_settings(tmp_path, fake_tg, sim, callbacks=True, **settings)  # type: ignore[arg-type]
    target = url(config.web_port) if callable(url) else url
    async with running_bot(config) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A quiet harbour [sim:never]")
        submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED, JobState.RUNNING)
        assert submitted.task_id is not None
        started = time.monotonic()
        await _forge_success(config.web_port, submitted.callback_token, submitted.task_id, target)
        failed = await wait_job_state(bot, job.id, JobState.FAILED, timeout=20)
        elapsed = time.monotonic() - started
        assert failed.fail_reason == "result_url_refused"
        assert await ledger_for_job(bot, job.id) == [(-job.cost, "generation"), (job.cost, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        assert await books_balance(bot)
        await wait_status(fake_tg, failed, translate("fail-result_url_refused", "en"))
        # A second, identical callback changes nothing: refunded once.
        await _forge_success(config.web_port, submitted.callback_token, submitted.task_id, target)
        assert await bot.components.tracker.wait_idle(5)
        assert await ledger_for_job(bot, job.id) == [(-job.cost, "generation"), (job.cost, "refund")]
        assert not fake_tg.calls_of("sendVideo") and not fake_tg.calls_of("sendDocument")
        shown = " ".join(str(c.params.get("text")) for c in fake_tg.calls_of("sendMessage"))
        shown += " ".join(str(c.params.get("text")) for c in fake_tg.calls_of("editMessageText"))
        assert target not in shown, "a refused URL is never shown to the user"
    return elapsed


async def test_bots_own_healthz_is_refused(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> None:
    await _refused(fake_tg, sim, tmp_path, lambda port: f"http://127.0.0.1:{port}/healthz")


async def test_other_loopback_port_is_refused(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, internal: Recorder
) -> None:
    await _refused(fake_tg, sim, tmp_path, f"{internal.base}/video.mp4")
    assert internal.hits == []


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/v.mp4", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/v.mp4"],
)
async def test_private_and_link_local_addresses_are_refused_before_connecting(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, url: str
) -> None:
    # A connect attempt to an unroutable address would take the 10 s connect timeout, four times.
    elapsed = await _refused(fake_tg, sim, tmp_path, url)
    assert elapsed < 8


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/v.mp4"])
async def test_non_http_schemes_are_refused(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, url: str
) -> None:
    await _refused(fake_tg, sim, tmp_path, url)


async def test_redirect_from_an_allowed_host_to_loopback_is_refused(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, internal: Recorder
) -> None:
    def redirect(_: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": f"{internal.base}/video.mp4"})

    front = Recorder(redirect)
    await front.start()
    try:
        allow = (sim.base_url.removeprefix("http://"), f"127.0.0.1:{front.port}")
        await _refused(fake_tg, sim, tmp_path, f"{front.base}/results/v.mp4", result_fetch_allow_hosts=allow)
    finally:
        await front.stop()
    assert front.hits == ["/results/v.mp4"], "the allowed host was asked"
    assert internal.hits == [], "the redirect target never was"
