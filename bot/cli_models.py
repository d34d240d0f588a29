"""`python -m bot models [--json]`: print the catalog for operators (and for scripts with --json)."""

from __future__ import annotations

import json
from typing import TextIO

from bot.catalog import Catalog, ModelEntry, catalog_as_json, mode_name


def _option_text(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "-"


def _entry_lines(entry: ModelEntry, catalog: Catalog) -> list[str]:
    lines = [
        f"{entry.key:<13} {entry.display_name('en')}  [{entry.family}]  by {entry.maker}  "
        f"from {catalog.price_from(entry)} credits (KIE {catalog.kie_price_from(entry)})",
        f"{'':13} tier: {entry.tier}; sound: {entry.sound}; categories: "
        f"{', '.join(catalog.categories_of(entry)) or '-'}",
    ]
    for mode_key, spec in entry.modes.items():
        ratios = ", ".join(spec.ratios) if spec.ratios else "from input"
        inputs = ", ".join(f"{r.count}×{r.kind}" for r in spec.inputs) or "none"
        lines.append(f"{'':13} {mode_key:<7} {spec.kie_model}  ({mode_name(mode_key, 'en')}; "
                     f"ratios: {ratios}; inputs: {inputs}; prompt ≤{spec.prompt.max_length}"
                     f"{', English only' if spec.prompt.english_only else ''}"
                     f"{', optional' if not spec.prompt.required else ''})")
        for options, quote in entry.price_list(mode_key):
            lines.append(f"{'':23} {_option_text(options):<36} {quote.user_credits:>5} credits "
                         f"(KIE {quote.kie_credits})")
    if entry.notes:
        lines.append(f"{'':13} note: {entry.notes}")
    return lines


def print_models(catalog: Catalog, as_json: bool, out: TextIO) -> None:
    """A readable listing, or with `as_json` the `catalog_as_json` list (UTF-8, indented)."""
    if as_json:
        json.dump(catalog_as_json(catalog), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    offered = catalog.offerable()
    out.write(f"{len(offered)} models offered, in menu order; user price = KIE credits × "
              f"{catalog.markup}, rounded up, unless a model has its own markup or fixed prices\n\n")
    for entry in offered:
        out.write("\n".join(_entry_lines(entry, catalog)) + "\n\n")
    hidden = [e.key for e in catalog.entries if e.hidden and e.retired is None]
    if hidden:
        out.write(f"hidden (not offered): {', '.join(hidden)}\n")
    retired = [e for e in catalog.entries if e.retired is not None]
    if retired:
        out.write("Retired (never offered, kept for history):\n")
        for entry in retired:
            assert entry.retired is not None
            out.write(f"  {entry.key:<13} {entry.name('en')}  retired {entry.retired.on.isoformat()}: "
                      f"{entry.retired.reason}\n")
