"""`python -m bot kie-check` as an operator runs it: a subprocess with only KIE_API_KEY and
KIE_API_BASE (pointing at a running KIE simulator), at KIE's real 1 request/s discovery pace."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.kie.sandbox import KieSimulator
from tests.e2e.test_process import bot_env

KEY = "sim-kie-check-key"


@pytest.fixture
async def kie() -> AsyncIterator[KieSimulator]:
    async with KieSimulator(KEY) as simulator:  # 1 discovery call per second, like KIE
        yield simulator


async def kie_check(tmp_path: Path, sim: KieSimulator, *args: str, key: str = KEY) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "kie-check", *args,
        cwd=tmp_path,
        env=bot_env(KIE_API_KEY=key, KIE_API_BASE=sim.base_url),  # no BOT_TOKEN, no database
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_kie_check_passes_when_every_offered_model_is_listed(kie: KieSimulator, tmp_path: Path) -> None:
    code, out, err = await kie_check(tmp_path, kie, "--only", "kling26,veo_fast,runway")
    assert code == 0, out + err
    assert "kling-2.6/text-to-video  listed; KIE price: " in out
    assert "request vs schema: ok" in out and "MISMATCH" not in out
    assert "dedicated endpoint" in out  # Runway is not in the list by id
    assert "Every offered model is listed on KIE." in out
    assert kie.rate_limited["discovery"] == 0  # 1 list + 2 calls per listed id, all within 1/s
    assert not (tmp_path / "data").exists()  # no database was opened


async def test_kie_check_fails_when_an_offered_model_is_missing(kie: KieSimulator, tmp_path: Path) -> None:
    kie.model_list.remove("kling-2.6/image-to-video")
    code, out, _ = await kie_check(tmp_path, kie, "--only", "kling26")
    assert code == 1
    assert "kling-2.6/image-to-video  MISSING on KIE" in out
    assert "MISSING on KIE (offered here): kling26" in out


async def test_kie_check_reports_schema_mismatches_and_models_not_offered(
    kie: KieSimulator, tmp_path: Path
) -> None:
    # KIE's schema for Kling 2.6 text→video now wants a field we do not send, and lacks one we do.
    model = kie.model_list.models["kling-2.6/text-to-video"]
    assert model.openapi is not None
    request = model.openapi["components"]["schemas"]["Request"]["properties"]["input"]
    del request["properties"]["sound"]
    request["properties"]["camera"] = {"type": "string"}
    request["required"] = [*request["required"], "camera"]
    kie.model_list.add("kling-4.0/reference-to-video", title="Kling 4.0", task_types=("Image to Video",),
                       pricing="0.2 credits per second")
    code, out, _ = await kie_check(tmp_path, kie, "--only", "kling26")
    assert code == 0, out
    assert "required but not sent: input.camera" in out
    assert "sent but unknown to KIE: input.sound" in out
    assert "kling-4.0/reference-to-video" in out.split("KIE video models we do not offer")[1]
    assert "kling-2.6/text-to-video " not in out.split("KIE video models we do not offer")[1]


async def test_kie_check_without_a_readable_list_exits_3(kie: KieSimulator, tmp_path: Path) -> None:
    code, out, err = await kie_check(tmp_path, kie, "--only", "kling26", key="wrong-key")
    assert code == 3
    assert "cannot be read" in out and "wrong-key" not in out + err


async def test_kie_check_needs_the_kie_key(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "kie-check", cwd=tmp_path, env=bot_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "KIE_API_KEY" in stderr.decode() and stderr.decode().count("\n") == 1
