"""Fixtures of the in-process handler tests (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.inprocess.harness import InProcessBot, in_process_bot


@pytest.fixture
async def tg(tmp_path: Path) -> AsyncIterator[InProcessBot]:
    async with in_process_bot(tmp_path) as running:
        yield running
