"""The simulator's answers to KIE's model-discovery API (kie-api-2026.md §1.4).

The list is derived from the simulator's OWN rule table (rules.py: the market models and Veo's model
values), never from the bot's catalog, so a catalog entry naming a model KIE does not have shows up
as missing. Tests shape the list with `SimModelList.remove/add/set_normal`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.kie.sandbox.rules import FAMILIES, MARKET_MODELS, VEO_FIELDS, VEO_PRICES, FieldRule, ModelRule

_PROVIDERS = {
    "sora": "OpenAI", "kling": "Kling", "hailuo": "MiniMax", "minimax": "MiniMax", "wan": "Wan",
    "bytedance": "ByteDance", "veo": "Google", "gemini": "Google", "grok": "xAI", "topaz": "Topaz",
    "omnihuman": "ByteDance", "infinitalk": "InfiniTalk", "volcengine": "ByteDance",
}
_OPENAPI_TYPES = {"str": "string", "url": "string", "bool": "boolean", "int": "integer", "number": "number",
                  "url_list": "array", "str_list": "array", "any": None}
BUCKET_S = 600
BUCKETS_PER_DAY = 144


@dataclass(frozen=True)
class SimModel:
    model: str
    title: str
    provider: str
    task_types: tuple[str, ...]
    pricing: str
    description: str = ""
    openapi: Mapping[str, Any] | None = None
    normal: bool = True

    def as_row(self) -> dict[str, Any]:
        return {"model": self.model, "slug": self.model.replace("/", "-"), "title": self.title,
                "provider": self.provider, "taskType": list(self.task_types),
                "description": self.description, "pricingDesc": self.pricing}

    def success_buckets(self, now: float) -> list[dict[str, Any]]:
        """Last 24 h in 10-minute buckets, oldest first; the latest carries the current health."""
        start = int(now // BUCKET_S) * BUCKET_S
        rows = []
        for index in range(BUCKETS_PER_DAY):
            latest = index == BUCKETS_PER_DAY - 1
            healthy = self.normal or not latest
            rows.append({
                "time": (start - (BUCKETS_PER_DAY - 1 - index) * BUCKET_S) * 1000,
                "successRate": 97.5 if healthy else 41.0,
                "errorRate": 2.5 if healthy else 59.0,
                "isNormal": healthy,
            })
        return rows


def _provider(model_id: str) -> str:
    head = model_id.split("/")[0].split("-")[0].lower()
    return _PROVIDERS.get(head, head.capitalize())


def _task_types(model_id: str, fields: Mapping[str, FieldRule]) -> tuple[str, ...]:
    name = model_id.lower()
    if "speech-to-video" in name or "avatar" in name or "audio_url" in fields:
        return ("Speech to Video",)
    if "image-to-video" in name or "image_url" in fields or "image_urls" in fields:
        return ("Image to Video",)
    if "video-to-video" in name or "upscale" in name or "videoedit" in name or "video_url" in fields:
        return ("Video to Video",)
    return ("Text to Video",)


def _openapi_property(rule: FieldRule) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    kind = _OPENAPI_TYPES.get(rule.kind)
    if kind:
        prop["type"] = kind
    if rule.kind in ("url_list", "str_list"):
        prop["items"] = {"type": "string"}
    if rule.choices is not None:
        prop["enum"] = list(rule.choices)
    return prop


def _object_schema(fields: Mapping[str, FieldRule]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _openapi_property(rule) for name, rule in fields.items()},
        "required": [name for name, rule in fields.items() if rule.required],
    }


def _document(path: str, body_schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": {path: {"post": {"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Request"}}}}}}},
        "components": {"schemas": {"Request": body_schema}},
    }


def _market_model(rule: ModelRule) -> SimModel:
    try:
        price = rule.price({})
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        price = 0
    openapi = None
    if rule.known_fields_only:
        body: dict[str, Any] = {"type": "object", "required": ["model", "input"], "properties": {
            "model": {"type": "string", "enum": [rule.model_id]}, "callBackUrl": {"type": "string"},
            "progressCallBackUrl": {"type": "string"}, "input": _object_schema(rule.fields)}}
        if not rule.accepts_progress_callback:
            del body["properties"]["progressCallBackUrl"]
        openapi = _document(FAMILIES["market"].create_path, body, rule.model_id)
    title = rule.model_id.replace("/", " ").replace("-", " ").title()
    return SimModel(rule.model_id, title, _provider(rule.model_id), _task_types(rule.model_id, rule.fields),
                    f"From {math.ceil(price)} credits per video (default settings)." if price else "",
                    openapi=openapi)


def _veo_models() -> list[SimModel]:
    openapi = _document(FAMILIES["veo"].create_path, _object_schema(VEO_FIELDS), "Veo 3.1")
    return [
        SimModel(model_id, f"Veo 3.1 {model_id}", "Google", ("Text to Video", "Image to Video"),
                 ", ".join(f"{res}: {credits} credits" for res, credits in prices.items())
                 + " per 8 s video.",
                 openapi=openapi)
        for model_id, prices in VEO_PRICES.items()
    ]


def default_models() -> dict[str, SimModel]:
    models = [*_veo_models(), *(_market_model(rule) for rule in MARKET_MODELS.values())]
    return {m.model: m for m in models}


@dataclass
class SimModelList:
    """The simulated account's view of KIE's model catalog, with test controls."""

    models: dict[str, SimModel] = field(default_factory=default_models)
    removed: dict[str, SimModel] = field(default_factory=dict)

    def remove(self, model_id: str) -> None:
        """KIE stops listing `model_id` (and its price/success-rate/schema answer 404-like errors)."""
        self.removed[model_id] = self.models.pop(model_id)

    def add(self, model_id: str, *, title: str = "", task_types: tuple[str, ...] = ("Text to Video",),
            pricing: str = "") -> None:
        """List `model_id` again (as it was, when it was removed) or a new model."""
        model = self.removed.pop(model_id, None) or SimModel(
            model_id, title or model_id, _provider(model_id), task_types, pricing)
        self.models[model_id] = model

    def set_normal(self, model_id: str, normal: bool) -> None:
        """What the model's success rate says: False makes its latest bucket abnormal."""
        self.models[model_id] = replace(self.models[model_id], normal=normal)

    def listing(self, *, task_type: str | None, provider: str | None, query: str | None) -> dict[str, Any]:
        rows = []
        for model in self.models.values():
            if task_type and task_type.lower() not in (t.lower() for t in model.task_types):
                continue
            if provider and provider.lower() != model.provider.lower():
                continue
            if query and query.lower() not in f"{model.model} {model.title}".lower():
                continue
            rows.append(model.as_row())
        return {"total": len(rows), "models": rows}

    def success_rate(self, model_id: str) -> list[dict[str, Any]]:
        return self.models[model_id].success_buckets(time.time())
