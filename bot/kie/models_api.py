"""KIE's model-discovery API (kie-api-2026.md §1.4): shapes and tolerant parsers.

    GET /api/v1/models?taskType=&provider=&q=  → data: {total, models: [{model, slug, title, provider,
                                                  taskType[], description, pricingDesc}]}
    GET /api/v1/models/<model>/price           → data: {model, pricingDesc}
    GET /api/v1/models/<model>/success-rate    → the last 24 h in 10-minute buckets
                                                  (successRate, errorRate, isNormal)
    GET /api/v1/models/<model>/schema          → data: {model, openapi} (openapi may be null)

The list shape is CONFIRMED; the success-rate shape is only described in words, so several readings
are accepted. Anything else is logged once per shape and read as "unknown" (never as "broken"): a
surprise in KIE's answer must not hide a model from the menu.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# A model id goes into the URL path as is (KIE: do not URL-encode the "/"), so only plain id
# characters are allowed: nothing that could end the path, start a query or climb a directory.
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_logged_shapes: set[str] = set()


def is_model_id(value: str) -> bool:
    return bool(_MODEL_ID_RE.match(value)) and ".." not in value and "//" not in value


def _log_shape_once(what: str, detail: str) -> None:
    key = f"{what}:{detail}"
    if key not in _logged_shapes:
        _logged_shapes.add(key)
        log.warning("KIE %s answer has an unexpected shape (%s); read as unknown", what, detail)


@dataclass(frozen=True)
class KieModelInfo:
    """One row of KIE's model list."""

    model: str
    title: str = ""
    provider: str = ""
    task_types: tuple[str, ...] = ()
    description: str = ""
    pricing: str = ""
    slug: str = ""

    @property
    def is_video(self) -> bool:
        """True for models that make or edit video (their task type says so)."""
        return any("video" in t.lower() for t in self.task_types)


@dataclass(frozen=True)
class SuccessRate:
    """`is_normal` None: KIE's answer said nothing we could read."""

    model: str
    is_normal: bool | None
    success_rate: float | None = None
    error_rate: float | None = None


@dataclass(frozen=True)
class ModelSchema:
    model: str
    openapi: Mapping[str, Any] | None = field(default=None)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(str(value).rstrip("%"))
    except ValueError:
        return None


def parse_model_list(data: Any) -> list[KieModelInfo]:
    """`data` of GET /api/v1/models. Raises ValueError when no list of models can be found (the
    caller then treats the list as unreadable, which hides nothing)."""
    rows: Any = None
    if isinstance(data, Mapping):
        rows = data.get("models")
        if rows is None:
            rows = next((v for k, v in data.items()
                         if k in ("list", "items", "records") and isinstance(v, list)), None)
    elif isinstance(data, list):
        rows = data
    if not isinstance(rows, list):
        raise ValueError("model list answer has no `models` array")
    models: list[KieModelInfo] = []
    for row in rows:
        if isinstance(row, str):
            model_id = row.strip()
            row = {}
        elif isinstance(row, Mapping):
            model_id = _text(row.get("model")) or _text(row.get("slug")) or _text(row.get("id"))
        else:
            continue
        if not model_id:
            continue
        task_types = row.get("taskType") or row.get("taskTypes") or ()
        if isinstance(task_types, str):
            task_types = (task_types,)
        models.append(KieModelInfo(
            model=model_id,
            title=_text(row.get("title")),
            provider=_text(row.get("provider")),
            task_types=tuple(t for t in (_text(x) for x in task_types) if t) if isinstance(
                task_types, list | tuple) else (),
            description=_text(row.get("description")),
            pricing=_text(row.get("pricingDesc")),
            slug=_text(row.get("slug")),
        ))
    return models


def parse_price(data: Any) -> str:
    """`data` of GET /models/<id>/price: KIE's price prose ("" when it gave none)."""
    if isinstance(data, Mapping):
        return _text(data.get("pricingDesc")) or _text(data.get("price"))
    if isinstance(data, str):
        return data.strip()
    _log_shape_once("price", type(data).__name__)
    return ""


def _buckets(data: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(data, list):
        return [b for b in data if isinstance(b, Mapping)]
    if isinstance(data, Mapping):
        for value in data.values():
            if isinstance(value, list) and value and all(isinstance(b, Mapping) for b in value):
                return list(value)
    return None


def _bucket_time(bucket: Mapping[str, Any]) -> float:
    for key in ("time", "timestamp", "startTime", "bucket", "ts"):
        value = _rate(bucket.get(key))
        if value is not None:
            return value
    return float("-inf")


def parse_success_rate(model: str, data: Any) -> SuccessRate:
    """`data` of GET /models/<id>/success-rate. Accepted: an object with `isNormal` (and rates),
    a list of buckets, or an object holding a list of buckets; the latest bucket decides."""
    if isinstance(data, Mapping) and isinstance(data.get("isNormal"), bool):
        return SuccessRate(model, data["isNormal"], _rate(data.get("successRate")),
                           _rate(data.get("errorRate")))
    buckets = _buckets(data)
    if buckets:
        # Latest bucket by its time when buckets carry one, else the last one listed.
        timed = any(_bucket_time(b) != float("-inf") for b in buckets)
        latest = max(buckets, key=_bucket_time) if timed else buckets[-1]
        normal = latest.get("isNormal")
        if isinstance(normal, bool):
            return SuccessRate(model, normal, _rate(latest.get("successRate")),
                               _rate(latest.get("errorRate")))
    _log_shape_once("success-rate", type(data).__name__ if not isinstance(data, Mapping) else ",".join(
        sorted(str(k) for k in data)[:8]))
    return SuccessRate(model, None)


def parse_schema(model: str, data: Any) -> ModelSchema:
    if isinstance(data, Mapping):
        openapi = data.get("openapi")
        if isinstance(openapi, Mapping):
            return ModelSchema(model, openapi)
        if openapi is None:
            return ModelSchema(model, None)
        if isinstance(data.get("paths"), Mapping):  # the document itself, not wrapped
            return ModelSchema(model, data)
    if data is not None:
        _log_shape_once("schema", type(data).__name__)
    return ModelSchema(model, None)


# ---------------------------------------------------------------------------- schema comparison


@dataclass(frozen=True)
class SchemaCheck:
    """What our request body does against KIE's schema for it. `checked` False: no usable schema."""

    checked: bool
    missing_required: tuple[str, ...] = ()
    unknown_sent: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing_required and not self.unknown_sent


def _resolve(doc: Mapping[str, Any], schema: Any, depth: int = 0) -> Mapping[str, Any]:
    """Follow local `$ref`s (#/components/...) and merge `allOf` parts."""
    if not isinstance(schema, Mapping) or depth > 20:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return _resolve(doc, target, depth + 1)
    parts = schema.get("allOf")
    if isinstance(parts, list):
        merged: dict[str, Any] = {"properties": {}, "required": []}
        for part in parts:
            resolved = _resolve(doc, part, depth + 1)
            merged["properties"].update(resolved.get("properties") or {})
            merged["required"].extend(resolved.get("required") or [])
        return merged
    return schema


def request_schema(doc: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The JSON body schema of POST `path` in an OpenAPI document (the only path when `path` is not
    there: KIE's per-model documents describe one call)."""
    paths = doc.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        return None
    item = paths.get(path)
    if item is None and len(paths) == 1:
        item = next(iter(paths.values()))
    post = item.get("post") if isinstance(item, Mapping) else None
    body = _resolve(doc, post.get("requestBody")) if isinstance(post, Mapping) else {}
    content = body.get("content") if isinstance(body, Mapping) else None
    media = content.get("application/json") if isinstance(content, Mapping) else None
    schema = _resolve(doc, media.get("schema")) if isinstance(media, Mapping) else {}
    return schema if schema.get("properties") else None


def compare_body(doc: Mapping[str, Any], path: str, body: Mapping[str, Any]) -> SchemaCheck:
    """Required fields our body lacks and fields it sends that the schema does not name, by dotted
    name (input.duration). Objects without listed properties are not looked into."""
    schema = request_schema(doc, path)
    if schema is None:
        return SchemaCheck(checked=False)
    missing: list[str] = []
    unknown: list[str] = []

    def walk(node: Mapping[str, Any], value: Mapping[str, Any], prefix: str) -> None:
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return
        for name in node.get("required") or ():
            if name not in value:
                missing.append(prefix + str(name))
        for name, item in value.items():
            if name not in properties:
                unknown.append(prefix + name)
                continue
            child = _resolve(doc, properties[name])
            if isinstance(item, Mapping):
                walk(child, item, f"{prefix}{name}.")

    walk(schema, body, "")
    return SchemaCheck(True, tuple(missing), tuple(unknown))


def describe_models(models: Sequence[KieModelInfo]) -> dict[str, KieModelInfo]:
    """The list keyed by model id (the first row wins for a repeated id)."""
    by_id: dict[str, KieModelInfo] = {}
    for info in models:
        by_id.setdefault(info.model, info)
    return by_id
