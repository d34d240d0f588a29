"""The Docker recipes stay consistent with each other (docker itself is not available in CI)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_plain_compose_up_starts_only_the_single_bot() -> None:
    services = _compose()["services"]
    unprofiled = sorted(name for name, spec in services.items() if not spec.get("profiles"))
    assert unprofiled == ["bot"]
    assert services["bot"]["environment"]["DATABASE_PATH"].startswith("/data/")


def test_scale_profile_has_database_cache_replica_and_proxy() -> None:
    services = _compose()["services"]
    scale = {name for name, spec in services.items() if "scale" in spec.get("profiles", [])}
    assert scale == {"bot-2", "postgres", "redis", "proxy"}
    assert services["bot-2"]["build"] == services["bot"]["build"]
    assert services["bot-2"]["env_file"] == services["bot"]["env_file"]
    for dependency in ("postgres", "redis"):
        assert services["bot-2"]["depends_on"][dependency]["condition"] == "service_healthy"
        assert "healthcheck" in services[dependency]


def test_proxy_upstreams_are_the_bot_replicas_on_the_bot_port() -> None:
    compose = _compose()
    nginx = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    upstreams = re.findall(r"^\s*server\s+([\w-]+):(\d+)", nginx, flags=re.MULTILINE)
    assert {name for name, _ in upstreams} == {"bot", "bot-2"}
    assert all(name in compose["services"] for name, _ in upstreams)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    web_port = re.search(r"WEB_PORT=(\d+)", dockerfile)
    assert web_port is not None
    assert {port for _, port in upstreams} == {web_port.group(1)}
    mount = compose["services"]["proxy"]["volumes"][0]
    assert mount.split(":")[0] == "./deploy/nginx.conf"



def test_scale_recipe_names_the_settings_the_bot_reads() -> None:
    header = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for setting in ("DATABASE_URL", "REDIS_URL", "TELEGRAM_WEBHOOK", "PUBLIC_URL", "WEBHOOK_SECRET"):
        assert setting in header
        assert setting in example, f"{setting} is not documented in .env.example"
