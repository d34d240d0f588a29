"""End-to-end fixtures: a KIE simulator over HTTP (the fake Bot API comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.kie.sandbox import KieSimulator, SimTimings


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    simulator = KieSimulator("sim-test-key", timings=SimTimings())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()
