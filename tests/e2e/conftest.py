"""End-to-end fixtures: a KIE simulator over HTTP (the fake Bot API comes from tests/conftest.py),
and the bot wired to both.

A module marked ``pytestmark = pytest.mark.kie_manual`` gets a simulator whose tasks stay
"generating" until the test moves them (SimTimings.manual): the wizard tests, which end at the
create call or drive each task by hand. A module that needs other settings defines its own `bot`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.kie.sandbox import KieSimulator, SimTimings
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[KieSimulator]:
    if request.node.get_closest_marker("kie_manual") is not None:
        async with KieSimulator(timings=SimTimings.manual()) as manual:
            yield manual
        return
    simulator = KieSimulator("sim-test-key", timings=SimTimings())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def bot(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as running:
        yield running
