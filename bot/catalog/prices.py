"""Prices KIE does not publish (UNCERTAIN in kie-api.md): they come from settings with defaults.

Each field `name` is fed from the setting `price_<name>` (env `PRICE_<NAME>`, bot.config.PriceSettings),
in KIE credits. The defaults here are the only ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class PriceOverrides:
    # Luma Modify: no price in the 2026 pricing export; per video.
    luma_modify: int = 120
    # Seedance 1.0 (bytedance/v1-*): not in the 2026 pricing export; per second of video, any resolution.
    seedance_lite_per_s: int = 4
    seedance_pro_per_s: int = 14
    seedance_pro_fast_per_s: int = 9
    # Sora 2 (non-Pro) 15 s: only the 10 s price (30) is published; default is 10 s pro rata (45).
    sora2_15s: int = 45
    # Hailuo 02 Standard image→video 768P 6 s: the export lists 512P 6/10 s and 768P 10 s only;
    # default = the Standard text→video 6 s price (30), which is 768P too.
    hailuo02_i2v_768p_6s: int = 30
    # Seedance 2.0 / 2.0 Fast (bytedance/seedance-2, -2-fast): kie-api-2026.md gives no price; defaults
    # are KIE's per-second rates as one client (Henji-AI, 2026-08) lists them, in credits per second
    # (2.0: $0.095/$0.205/$0.51; Fast: $0.0775/$0.165, rounded up).
    seedance2_480p_per_s: int = 19
    seedance2_720p_per_s: int = 41
    seedance2_1080p_per_s: int = 102
    seedance2_fast_480p_per_s: int = 16
    seedance2_fast_720p_per_s: int = 33
    # Seedance 2.5 at 1080p: sources say $0.57 or $0.79 per second; default the higher (158 credits).
    seedance25_1080p_per_s: int = 158
    # Wan 2.6 (wan/2-6-*): no published price; per second of video. Defaults sit above Wan 2.5 (12/20).
    wan26_720p_per_s: int = 20
    wan26_1080p_per_s: int = 30

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"price_{f.name} must be a whole number of KIE credits ≥ 1, got {value!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PriceOverrides:
        """From `{field: credits}`; keys may also be spelled `price_<field>`. Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        chosen: dict[str, int] = {}
        for key, value in values.items():
            name = key.lower().removeprefix("price_")
            if name not in known:
                raise ValueError(f"unknown price override {key!r}; known: {sorted(known)}")
            chosen[name] = int(value)
        return replace(cls(), **chosen)
