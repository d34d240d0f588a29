"""`python -m bot kie-check`: our catalog against KIE's own model list, for operators and CI.

Needs only KIE_API_KEY (and KIE_API_BASE for a simulator); no bot token, no database. Prints, per
catalog entry: each mode's KIE model id listed or missing, KIE's price text next to ours, and whether
the request our adapter builds for a sample order matches the model's /schema (required fields we
do not send, fields we send that the schema does not name). Then the KIE video models we do not
offer yet. Every discovery call goes through the client's 1 request/s limiter.

Exit codes: 0 all offered models are listed; 1 an offered (not retired, not hidden) model is missing on KIE;
2 bad settings; 3 KIE's list could not be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from pydantic import Field, SecretStr, ValidationError, field_validator

from bot.catalog import Catalog, ModelEntry, Order
from bot.catalog.availability import listed_id, listed_ids
from bot.config import PriceSettings, SettingsError, describe_validation_error
from bot.kie.adapters import adapter_for
from bot.kie.client import DEFAULT_API_BASE, KieClient
from bot.kie.errors import KieError
from bot.kie.models_api import KieModelInfo, SchemaCheck, compare_body, describe_models

EXIT_OK = 0
EXIT_MISSING = 1
EXIT_UNREADABLE = 3
SAMPLE_PROMPT = "A red fox runs through fresh snow at sunrise"
SAMPLE_CALLBACK = "https://bot.example.com/kie/callback/sample"
_SAMPLE_EXTENSIONS = {"image": "jpg", "audio": "mp3", "video": "mp4"}


class KieCheckSettings(PriceSettings):
    """What kie-check reads: the KIE key and base, the discovery pace, and the price settings."""

    kie_api_key: SecretStr
    kie_api_base: str = DEFAULT_API_BASE
    kie_discovery_rps: float = Field(default=1.0, gt=0)

    @field_validator("kie_api_base")
    @classmethod
    def _check_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def load_kie_check_settings() -> KieCheckSettings:
    try:
        return KieCheckSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def sample_order(entry: ModelEntry, mode: str) -> Order:
    """A valid order for `mode` with default options and placeholder input URLs."""
    spec = entry.mode_spec(mode)
    inputs = {
        rule.kind.value: tuple(
            f"https://files.example.com/sample-{i}.{_SAMPLE_EXTENSIONS.get(rule.kind.value, 'bin')}"
            for i in range(rule.count)
        )
        for rule in spec.inputs
    }
    prompt = SAMPLE_PROMPT if spec.prompt.max_length > 0 else ""
    return Order(entry.key, mode, spec.ratios[0] if spec.ratios else None, spec.defaults(), prompt, inputs)


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    missing_entries: list[str] = field(default_factory=list)
    prices: dict[str, str] = field(default_factory=dict)  # KIE id → KIE's price text
    docs: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)  # KIE id → OpenAPI

    def add(self, line: str = "") -> None:
        self.lines.append(line)


async def run_check(
    client: KieClient, catalog: Catalog, only: frozenset[str] = frozenset()
) -> tuple[int, str]:
    """(exit code, printed text)."""
    report = CheckReport()
    try:
        models = await client.list_models()
    except (KieError, ValueError) as exc:
        return EXIT_UNREADABLE, f"KIE's model list cannot be read: {exc}\n"
    by_id = describe_models(models)
    report.add(f"KIE lists {len(by_id)} models ({sum(m.is_video for m in by_id.values())} video).")
    report.add("")
    # The modes KIE lists are those the menu offers: "from N" counts only those (Catalog.price_from).
    ids = {i for e in catalog.entries for i in listed_ids(e)}
    catalog.availability.missing = frozenset(i for i in ids if i not in by_id)
    entries = [e for e in catalog.entries if not only or e.key in only]
    for entry in entries:
        await _check_entry(client, catalog, entry, by_id, report)
    _list_not_offered(catalog, by_id, report)  # from the list already read: no extra call
    if report.missing_entries:
        report.add(f"MISSING on KIE (offered here): {', '.join(report.missing_entries)}")
        return EXIT_MISSING, "\n".join(report.lines) + "\n"
    report.add("Every offered model is listed on KIE.")
    return EXIT_OK, "\n".join(report.lines) + "\n"


def price_line(catalog: Catalog, entry: ModelEntry) -> str:
    """The entry's heading: our "from" price as the model cards show it, and KIE's cost of it."""
    return (f"{entry.key:<13} {entry.name('en')}  (ours: from {catalog.kie_price_from(entry)} KIE credits, "
            f"{catalog.price_from(entry)} credits to users)")


async def _check_entry(
    client: KieClient,
    catalog: Catalog,
    entry: ModelEntry,
    by_id: dict[str, KieModelInfo],
    report: CheckReport,
) -> None:
    report.add(price_line(catalog, entry))
    if entry.retired is not None:
        report.add(f"{'':13} retired {entry.retired.on.isoformat()}: {entry.retired.reason}; not offered, "
                   "not checked")
        return
    if entry.hidden:
        report.add(f"{'':13} hidden by the operator (CATALOG_OVERRIDES_FILE); not offered, not checked")
        return
    if not listed_ids(entry):
        words = {w.lower() for w in (entry.maker, *entry.name("en").split()) if len(w) > 3}
        near = sorted(m for m in by_id if any(w in m.lower() for w in words))
        report.add(f"{'':13} dedicated endpoint: KIE's model list does not name it by id; "
                   f"KIE lists near it: {', '.join(near[:8]) or 'nothing'}")
        return
    missing = False
    for mode in entry.modes:
        kie_id = listed_id(entry, mode)
        assert kie_id is not None
        if kie_id not in by_id:
            missing = True
            report.add(f"{'':13} {mode:<7} {kie_id}  MISSING on KIE")
            continue
        if kie_id not in report.prices:
            report.prices[kie_id] = await _price(client, kie_id, by_id[kie_id])
        price = report.prices[kie_id] or "(none given)"
        report.add(f"{'':13} {mode:<7} {kie_id}  listed; KIE price: {price}")
        check = await _schema_check(client, entry, mode, kie_id, report.docs)
        report.add(f"{'':23} request vs schema: {_schema_text(check)}")
    if missing:
        report.missing_entries.append(entry.key)


async def _price(client: KieClient, kie_id: str, info: KieModelInfo) -> str:
    try:
        return await client.model_price(kie_id) or info.pricing
    except KieError as exc:
        return f"{info.pricing} (price call failed: {exc.operator_message_key})".strip()


async def _schema_check(
    client: KieClient, entry: ModelEntry, mode: str, kie_id: str, docs: dict[str, Mapping[str, Any] | None]
) -> SchemaCheck | str:
    """Our sample request for `mode` against the model's schema (fetched once per KIE id: Veo's
    three modes share one)."""
    if kie_id not in docs:
        try:
            docs[kie_id] = (await client.model_schema(kie_id)).openapi
        except KieError as exc:
            return f"schema call failed ({exc.operator_message_key})"
    doc = docs[kie_id]
    if doc is None:
        return "KIE gives no schema for it"
    request = adapter_for(entry.family).build_create(entry, sample_order(entry, mode), SAMPLE_CALLBACK)
    return compare_body(doc, request.path, request.body)


def _schema_text(check: SchemaCheck | str) -> str:
    if isinstance(check, str):
        return check
    if not check.checked:
        return "the schema names no request fields; not compared"
    if check.ok:
        return "ok"
    parts = []
    if check.missing_required:
        parts.append(f"required but not sent: {', '.join(check.missing_required)}")
    if check.unknown_sent:
        parts.append(f"sent but unknown to KIE: {', '.join(check.unknown_sent)}")
    return "MISMATCH — " + "; ".join(parts)


def _list_not_offered(catalog: Catalog, by_id: dict[str, KieModelInfo], report: CheckReport) -> None:
    ours = {mode.kie_model for e in catalog.entries for mode in e.modes.values()}
    new = [m for m in by_id.values() if m.is_video and m.model not in ours]
    report.add("")
    report.add(f"KIE video models we do not offer ({len(new)}):")
    for info in sorted(new, key=lambda m: m.model):
        price = f"  — {info.pricing}" if info.pricing else ""
        report.add(f"  {info.model:<44} {info.title}{price}")
    report.add("")


def main(catalog: Catalog, settings: KieCheckSettings, only: frozenset[str], out: TextIO) -> int:
    async def go() -> int:
        async with KieClient(
            settings.kie_api_key.get_secret_value(),
            api_base=settings.kie_api_base,
            discovery_rps=settings.kie_discovery_rps,
        ) as client:
            code, text = await run_check(client, catalog, only)
        out.write(text)
        return code

    return asyncio.run(go())
