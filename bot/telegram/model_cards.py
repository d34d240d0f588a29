"""A model's card, in one place: the one-line card (the wizard's model step, /models) and the full
card (the model step's ℹ️). HTML; every word through i18n, every catalog text escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.catalog.availability import DEGRADED_MARK
from bot.catalog.facts import Sound
from bot.catalog.model import Catalog, ClipLengths, ModelEntry, OptionSpec, mode_name
from bot.telegram.common import escape


def price_from_text(price: int) -> str:
    return ngettext("card-from", "card-from", price).format(price=price)


def clip_text(lengths: ClipLengths) -> str:
    """"8 s", "5–15 s", "up to 15 s" (the input decides), "as long as your video"."""
    seconds = lengths.seconds
    if lengths.follows_input:
        longest = seconds[-1] if seconds else lengths.input_max_s
        if longest is None:
            return _("card-clip-input")
        return _("card-clip-up-to").format(seconds=longest)
    if not seconds:
        return _("card-clip-input")
    if len(seconds) == 1:
        return _("card-clip-one").format(seconds=seconds[0])
    return _("card-clip-range").format(low=seconds[0], high=seconds[-1])


def sound_text(sound: Sound) -> str:
    return _(f"card-sound-{sound.value}")


def card_line(
    catalog: Catalog, entry: ModelEntry, lang: str, modes: Iterable[str] | None = None, *, brief: bool = False
) -> str:
    """The one-line card: name with marks, what it is best at, price from, clip length, sound.
    `modes`: the modes this menu offers (an order begun with a photo offers image → video only).
    `brief`: without "best at", for a list too long for one message (the ℹ️ card still says it).
    Kept by the catalog until KIE's availability changes: the wizard's model step shows a dozen per
    tap (`locale`: the language gettext answers in, which `lang` normally is)."""
    wanted = None if modes is None else tuple(modes)
    locale = I18n.get_current(no_error=True)
    key = ("card", entry.key, lang, locale.current_locale if locale else None, wanted, brief)
    return catalog.derived(key, lambda: _card_line(catalog, entry, lang, wanted, brief=brief))


def _card_line(
    catalog: Catalog, entry: ModelEntry, lang: str, modes: Iterable[str] | None, *, brief: bool
) -> str:
    shown = catalog.shown_modes(entry, modes)
    facts = " · ".join(
        (
            price_from_text(catalog.price_from(entry, shown)),
            clip_text(entry.clip_lengths(shown)),
            sound_text(entry.sound),
        )
    )
    name = f"<b>{escape(entry.display_name(lang))}</b>"
    if catalog.is_degraded(entry):
        name = f"{DEGRADED_MARK} {name}"
    if brief:
        return _("card-line-brief").format(name=name, facts=facts)
    return _("card-line").format(name=name, best_at=escape(entry.best_at_text(lang)), facts=facts)


def _option_label(spec_options: Sequence[OptionSpec], options: dict[str, str], lang: str) -> str:
    return " · ".join(o.value_title(options[o.key], lang) for o in spec_options if o.key in options)


def _price_lines(entry: ModelEntry, mode: str, lang: str) -> list[str]:
    """Prices of every option set: one line per choice of the options other than duration, with the
    durations' prices on it ("720p: 5 s — 60, 10 s — 120"); one line when there is no duration."""
    spec = entry.mode_spec(mode)
    duration = spec.option("duration")
    others = [o for o in spec.options if o.key != "duration"]
    rows: dict[str, list[str]] = {}
    for options, quote in entry.price_list(mode):
        label = _option_label(others, options, lang)
        if duration is None:
            title, label = label, ""
        else:
            title = duration.value_title(options["duration"], lang)
        item = _("card-price-item").format(title=title, price=quote.user_credits) if title else str(
            quote.user_credits
        )
        rows.setdefault(label, []).append(item)
    return [escape(f"{label}: {', '.join(items)}" if label else ", ".join(items))
            for label, items in rows.items()]


def _ratios_text(entry: ModelEntry, mode: str) -> str:
    spec = entry.mode_spec(mode)
    if spec.ratios:
        return ", ".join(_("card-ratio-auto") if r == "auto" else r for r in spec.ratios)
    kinds = {rule.kind.value for rule in spec.inputs}
    if "video" in kinds:
        return _("card-ratio-video")
    if "image" in kinds:
        return _("card-ratio-photo")
    return _("card-ratio-model")


def _grouped(modes: Sequence[str], fact: Callable[[str], list[str]]) -> list[tuple[list[str], list[str]]]:
    """Modes grouped by the lines `fact(mode)` gives, in the order the modes come."""
    groups: list[tuple[list[str], list[str]]] = []
    for mode in modes:
        lines = fact(mode)
        for names, seen in groups:
            if seen == lines:
                names.append(mode)
                break
        else:
            groups.append(([mode], lines))
    return groups


def full_card(catalog: Catalog, entry: ModelEntry, lang: str) -> str:
    """Everything about the model: description, modes, prices per option, clip lengths, ratios, sound."""
    shown = catalog.shown_modes(entry)
    lines = [
        f"<b>{escape(entry.display_name(lang))}</b> · {escape(entry.maker)}",
        escape(entry.description(lang)),
        "",
        _("card-modes").format(modes=escape(", ".join(mode_name(m, lang) for m in shown))),
        _("card-clip").format(clip=clip_text(entry.clip_lengths(shown))),
        _("card-sound").format(sound=sound_text(entry.sound)),
    ]
    ratio_groups = _grouped(shown, lambda m: [_ratios_text(entry, m)])
    if len(ratio_groups) == 1:
        lines.append(_("card-ratios").format(ratios=escape(ratio_groups[0][1][0])))
    else:
        lines.append(_("card-ratios").format(ratios="").rstrip())
        for modes, texts in ratio_groups:
            names = ", ".join(mode_name(m, lang) for m in modes)
            lines.append(f"  {escape(names)}: {escape(texts[0])}")
    lines.append("")
    lines.append(_("card-prices"))
    for modes, price_lines in _grouped(shown, lambda m: _price_lines(entry, m, lang)):
        names = ", ".join(mode_name(m, lang) for m in modes)
        lines.append(f"<i>{escape(names)}</i>")
        lines.extend(f"  {line}" for line in price_lines)
    if catalog.is_degraded(entry):
        lines.append("")
        lines.append(_("wizard-degraded-note").format(mark=DEGRADED_MARK))
    return "\n".join(lines)
