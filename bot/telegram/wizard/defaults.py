"""What the wizard preselects: the user's last settings for a model, or the catalog's defaults.

Built once when a draft begins (from the user's past orders and the last ratio they picked) and
kept in the draft, so every step of one draft sees the same defaults and no tap reads the database.
next_step (rules.py) fills mode, ratio and options from here instead of asking, and the summary
offers a ✏️ button for each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.catalog.model import OptionSpec
from bot.store.jobs import OrderSettings


@dataclass(frozen=True)
class ModelDefaults:
    """The user's last order of one model."""

    mode: str
    ratio: str | None
    options: Mapping[str, str]


@dataclass(frozen=True)
class Defaults:
    models: Mapping[str, ModelDefaults] = field(default_factory=dict)  # model key → last order
    last_model: str | None = None  # the model of the user's latest order ("Same as last time")
    ratio: str | None = None  # the last ratio the user picked, on any model

    @classmethod
    def from_history(cls, settings: Sequence[OrderSettings], ratio: str | None) -> Defaults:
        """`settings`: one per model, newest first (JobHistory.last_settings)."""
        models = {s.model_key: ModelDefaults(s.mode, s.ratio, dict(s.options)) for s in settings}
        return cls(models, settings[0].model_key if settings else None, ratio)

    # --- storage beside the draft (FSM data) --------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {
            "models": {k: [m.mode, m.ratio, dict(m.options)] for k, m in self.models.items()},
            "last_model": self.last_model,
            "ratio": self.ratio,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Defaults:
        if not data:
            return cls()
        models = {
            str(key): ModelDefaults(str(mode), ratio, {str(k): str(v) for k, v in options.items()})
            for key, (mode, ratio, options) in dict(data.get("models") or {}).items()
        }
        return cls(models, data.get("last_model"), data.get("ratio"))

    # --- the value to preselect ---------------------------------------------------------------------
    def mode(self, model_key: str, modes: Sequence[str]) -> str:
        """The mode last ordered of this model if still offered, else the catalog's first."""
        last = self.models.get(model_key)
        return last.mode if last is not None and last.mode in modes else modes[0]

    def ratio_for(self, model_key: str, ratios: Sequence[str]) -> str:
        """`ratios` as the catalog lists them (the first is the model's recommended one): the ratio
        last ordered of this model, else the last one picked on any model, else the recommended."""
        last = self.models.get(model_key)
        for candidate in (last.ratio if last is not None else None, self.ratio):
            if candidate is not None and candidate in ratios:
                return candidate
        return ratios[0]

    def option(self, model_key: str, option: OptionSpec, allowed: Sequence[str]) -> str:
        """The value last ordered of this model, else the catalog's default, else the first
        allowed (`allowed`: the values that fit the options already chosen)."""
        last = self.models.get(model_key)
        candidates = (last.options.get(option.key) if last is not None else None, option.default)
        return next((c for c in candidates if c is not None and c in allowed), allowed[0])
