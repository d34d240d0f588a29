"""KIE's model-discovery calls: the client's one 1 request/s budget for all four, against the
simulator's own 1/s limit over real HTTP, and the tolerant parsing of the answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from bot.kie.client import KieClient
from bot.kie.errors import KieAuthError, KieBadRequest
from bot.kie.models_api import compare_body, parse_model_list, parse_schema, parse_success_rate
from bot.kie.sandbox import KieSimulator

KEY = "sim-discovery-key"


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    async with KieSimulator(KEY) as simulator:
        yield simulator


async def test_a_burst_of_discovery_calls_never_meets_kies_limit(sim: KieSimulator) -> None:
    """Six calls of all four kinds at once: the client spaces them to 1/s, so the simulator (which
    answers 429 to a second call within a second, like KIE) never refuses one."""
    async with KieClient(KEY, api_base=sim.base_url) as client:
        started = time.monotonic()
        model = "kling-2.6/text-to-video"
        results = await asyncio.gather(
            client.list_models(), client.model_price(model), client.model_success_rate(model),
            client.model_schema(model), client.list_models(query="kling"), client.model_price("veo3"),
        )
        elapsed = time.monotonic() - started
    assert sim.rate_limited["discovery"] == 0
    assert client.stats.rate_limited_answers == 0
    assert elapsed >= 5.0  # six calls, one per second
    models, price, rate, schema, kling, _ = results
    assert model in {m.model for m in models} and all("kling" in m.model for m in kling)
    assert price and rate.is_normal is True and schema.openapi is not None


async def test_without_the_client_limit_the_simulator_refuses_like_kie(sim: KieSimulator) -> None:
    """The check above can fail: the same burst without spacing gets 429s (in the body, HTTP 200)."""
    async with KieClient(KEY, api_base=sim.base_url, discovery_rps=1000) as client:
        client.discovery_retry = type(client.discovery_retry)(attempts=1)
        outcomes = await asyncio.gather(*(client.list_models() for _ in range(4)), return_exceptions=True)
    assert sim.rate_limited["discovery"] >= 1
    assert any(type(o).__name__ == "KieRateLimited" for o in outcomes)


async def test_model_ids_travel_unencoded_and_unsafe_ids_are_refused(sim: KieSimulator) -> None:
    async with KieClient(KEY, api_base=sim.base_url, discovery_rps=50) as client:
        sim.discovery_limit_per_s = None
        await client.model_price("kling-2.6/image-to-video")
        assert sim.requests[-1].path == "/api/v1/models/kling-2.6/image-to-video/price"
        for bad in ("../chat/credit", "a?b=1", "x#y", "", "a//b"):
            with pytest.raises(KieBadRequest):
                await client.model_price(bad)


async def test_a_bad_key_is_a_typed_error(sim: KieSimulator) -> None:
    async with KieClient("wrong", api_base=sim.base_url) as client:
        with pytest.raises(KieAuthError):
            await client.list_models()


def test_model_list_shapes() -> None:
    documented = {"total": 2, "models": [
        {"model": "kling-3.0/video", "slug": "kling-3-0-video", "title": "Kling 3.0", "provider": "Kling",
         "taskType": ["Text to Video", "Image to Video"], "description": "", "pricingDesc": "0.07/s"},
        {"model": "gpt-image-1", "taskType": ["Text to Image"]},
    ]}
    kling, image = parse_model_list(documented)
    assert kling.model == "kling-3.0/video" and kling.is_video and kling.pricing == "0.07/s"
    assert not image.is_video
    assert [m.model for m in parse_model_list([{"slug": "a"}, "b", 7, {"title": "no id"}])] == ["a", "b"]
    for unreadable in (None, "oops", {"total": 0}, {"models": "x"}):
        with pytest.raises(ValueError):
            parse_model_list(unreadable)


def test_success_rate_shapes(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_success_rate("m", {"isNormal": False, "successRate": "40%"}).is_normal is False
    buckets = [{"time": 2, "isNormal": False}, {"time": 3, "isNormal": True}, {"time": 1, "isNormal": True}]
    assert parse_success_rate("m", buckets).is_normal is True  # the latest bucket by time
    assert parse_success_rate("m", {"list": buckets[:1]}).is_normal is False
    assert parse_success_rate("m", [{"isNormal": True}, {"isNormal": False}]).is_normal is False
    caplog.set_level(logging.WARNING, logger="bot.kie.models_api")
    for _ in range(3):
        assert parse_success_rate("m", {"weird": 1}).is_normal is None  # unknown, never "broken"
    assert len([r for r in caplog.records if "unexpected shape" in r.getMessage()]) == 1


def test_schema_comparison_follows_refs_and_nested_objects() -> None:
    doc = {
        "paths": {"/api/v1/jobs/createTask": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Req"}}}}}}},
        "components": {"schemas": {
            "Req": {"type": "object", "required": ["model", "input"], "properties": {
                "model": {"type": "string"}, "callBackUrl": {"type": "string"},
                "input": {"$ref": "#/components/schemas/Input"}}},
            "Input": {"allOf": [{"properties": {"prompt": {}}, "required": ["prompt"]},
                                {"properties": {"sound": {}}, "required": ["sound"]}]},
        }},
    }
    path = "/api/v1/jobs/createTask"
    check = compare_body(doc, path, {"model": "x", "input": {"prompt": "a", "fps": 2}})
    assert check.checked and check.missing_required == ("input.sound",)
    assert check.unknown_sent == ("input.fps",)
    assert compare_body(doc, path, {"model": "x", "input": {"prompt": "a", "sound": True}}).ok
    assert not compare_body({"paths": {}}, "/x", {"a": 1}).checked
    assert parse_schema("m", {"model": "m", "openapi": None}).openapi is None
