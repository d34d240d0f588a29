"""The shapes of the catalog: what a user can order and what it costs.

Pure data and pure functions. Nothing here does I/O or imports other parts of the bot, so the menu,
validation, request builders and pricing can all read one source of truth.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from itertools import product
from typing import Any, TypeVar

from bot.catalog.availability import Availability
from bot.catalog.categories import BY_KEY as CATEGORY_BY_KEY
from bot.catalog.categories import CATEGORIES
from bot.catalog.english import is_english
from bot.catalog.facts import Sound, Strength, Tier

_T = TypeVar("_T")

# Telegram's cloud Bot API lets bots download files of at most 20 MB, so no input may be larger,
# whatever KIE itself would accept.
TELEGRAM_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024
MB = 1024 * 1024


class Family(StrEnum):
    """KIE endpoint family; selects the adapter that speaks to KIE."""

    VEO = "veo"
    RUNWAY = "runway"
    ALEPH = "aleph"
    MODIFY = "modify"
    MARKET = "market"


class Mode(StrEnum):
    """What the user starts from. Values are short because they travel in callback_data."""

    T2V = "t2v"        # text → video
    I2V = "i2v"        # image → video
    FRAMES = "frames"  # first + last frame → video
    V2V = "v2v"        # video → video
    S2V = "s2v"        # speech (photo + audio) → video
    AVATAR = "avatar"  # photo + audio → talking head
    REFS = "refs"      # several reference photos → video (not first/last frames)


class InputKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


# Marks the operator may put on a model (catalog overrides), shown in front of its name.
BADGE_MARKS: dict[str, str] = {"new": "🆕", "recommended": "⭐"}

MODE_NAMES: Mapping[str, Mapping[str, str]] = {
    Mode.T2V: {"en": "Text → video", "ru": "Текст → видео"},
    Mode.I2V: {"en": "Image → video", "ru": "Фото → видео"},
    Mode.FRAMES: {"en": "First + last frame", "ru": "Первый + последний кадр"},
    Mode.V2V: {"en": "Video → video", "ru": "Видео → видео"},
    Mode.S2V: {"en": "Speech → video", "ru": "Речь → видео"},
    Mode.AVATAR: {"en": "Talking avatar", "ru": "Говорящий аватар"},
    Mode.REFS: {"en": "Reference photos → video", "ru": "Фото-референсы → видео"},
}


def pick_text(texts: Mapping[str, str], lang: str) -> str:
    """The text in `lang`, falling back to English (every text has English)."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def mode_name(mode: str, lang: str) -> str:
    return pick_text(MODE_NAMES.get(mode, {"en": mode}), lang)


class InvalidOrder(Exception):
    """An order the catalog refuses. `reason_key` is stable snake_case; the Telegram layer localizes it.

    Reason keys: unknown_model, model_retired, unknown_mode, bad_ratio, bad_option, forbidden_combination,
    prompt_empty, prompt_too_long, prompt_not_english, missing_input, unexpected_input.
    """

    def __init__(self, reason_key: str, **params: Any) -> None:
        super().__init__(reason_key, params)
        self.reason_key = reason_key
        self.params: dict[str, Any] = params

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.reason_key}({details})" if details else self.reason_key


@dataclass(frozen=True)
class Order:
    """What the user asked for, as collected by the wizard."""

    model_key: str
    mode: str
    ratio: str | None
    options: dict[str, str]
    prompt: str
    # input kind ("image", "audio", "video") → URLs of the already-uploaded files, in slot order
    inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Quote:
    kie_credits: int
    user_credits: int


@dataclass(frozen=True)
class OptionSpec:
    """One choice the user makes (duration, resolution, size, sound...). Values are strings."""

    key: str
    values: tuple[str, ...]
    default: str
    titles: Mapping[str, str]
    value_titles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default not in self.values:
            raise ValueError(f"option {self.key}: default {self.default!r} not in {self.values}")

    def title(self, lang: str) -> str:
        return pick_text(self.titles, lang)

    def value_title(self, value: str, lang: str) -> str:
        return pick_text(self.value_titles.get(value, {"en": value}), lang)


@dataclass(frozen=True)
class PromptRule:
    required: bool
    min_length: int
    max_length: int
    english_only: bool = False

    def check(self, prompt: str) -> None:
        """InvalidOrder (a prompt_* reason) when `prompt` breaks this rule; the one prompt check."""
        prompt = prompt.strip()
        if not prompt:
            if self.required:
                raise InvalidOrder("prompt_empty")
            return
        if len(prompt) < self.min_length:
            raise InvalidOrder("prompt_empty", min=self.min_length)
        if len(prompt) > self.max_length:
            raise InvalidOrder("prompt_too_long", max=self.max_length, length=len(prompt))
        if self.english_only and not is_english(prompt):
            raise InvalidOrder("prompt_not_english")


@dataclass(frozen=True)
class InputRule:
    """One input slot kind: `count` files of `kind`, each within the limits."""

    kind: InputKind
    count: int
    mime_types: tuple[str, ...]
    max_bytes: int
    max_duration_s: int | None = None
    # For inputs priced by their length (avatar audio): the option whose value (seconds) further caps
    # the allowed duration, so the user never uploads more than they paid for.
    duration_option: str | None = None

    def __post_init__(self) -> None:
        if self.max_bytes > TELEGRAM_DOWNLOAD_LIMIT_BYTES:
            raise ValueError(f"{self.kind} input above Telegram's 20 MB download limit")


@dataclass(frozen=True)
class WireSpec:
    """How a market (jobs API) model names its `input` fields. Dedicated families hard-code theirs."""

    prompt_field: str | None = "prompt"
    # Some models require the prompt key even when it may be empty (Kling AI Avatar).
    send_empty_prompt: bool = False
    ratio_field: str | None = None
    ratio_values: Mapping[str, str] = field(default_factory=dict)  # our ratio → KIE value, if different
    image_field: str | None = None
    image_as_list: bool = False  # `image_urls: [..]` vs `image_url: ".."`
    # One string field per image slot, in order (`first_frame_url`, `last_frame_url`); used instead of
    # image_field when set.
    image_fields: tuple[str, ...] = ()
    audio_field: str | None = None
    video_field: str | None = None
    option_fields: Mapping[str, str] = field(default_factory=dict)  # option key → KIE field
    value_maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # option → value → wire
    constants: Mapping[str, Any] = field(default_factory=dict)


PriceKey = tuple[tuple[str, str], ...]


def price_key(options: Mapping[str, str]) -> PriceKey:
    return tuple(sorted(options.items()))


def violates(forbidden: Mapping[str, str], options: Mapping[str, str]) -> bool:
    """True when `options` contains every pair of the forbidden combination."""
    return all(options.get(key) == value for key, value in forbidden.items())


@dataclass(frozen=True)
class ModeSpec:
    mode: Mode
    # The id KIE knows this model by. Runway/Aleph/Luma have no model field on the wire; theirs is a
    # descriptive label for listings only.
    kie_model: str
    inputs: tuple[InputRule, ...]
    prompt: PromptRule
    ratios: tuple[str, ...] = ()  # empty: the input image/video decides, no ratio step
    options: tuple[OptionSpec, ...] = ()
    forbidden: tuple[Mapping[str, str], ...] = ()
    # KIE credits for every allowed option set (all options filled in), see `price_table`.
    prices: Mapping[PriceKey, int] = field(default_factory=dict)
    wire: WireSpec | None = None
    # The clip's length in seconds when no "duration" option sets it (Veo's 8 s). None with a
    # duration option, or when the input video decides the length (video → video).
    clip_seconds: int | None = None

    def option(self, key: str) -> OptionSpec | None:
        return next((o for o in self.options if o.key == key), None)

    def defaults(self) -> dict[str, str]:
        return {o.key: o.default for o in self.options}

    def option_sets(self) -> list[dict[str, str]]:
        """Every allowed combination of option values, in declaration order."""
        keys = [o.key for o in self.options]
        every = product(*(o.values for o in self.options))
        combos = (dict(zip(keys, values, strict=True)) for values in every)
        return [c for c in combos if not any(violates(f, c) for f in self.forbidden)]


def price_table(
    options: Iterable[OptionSpec],
    forbidden: Iterable[Mapping[str, str]],
    price_of: Callable[[Mapping[str, str]], int],
) -> dict[PriceKey, int]:
    """Price every allowed option set with `price_of` (a function of the option values)."""
    spec = ModeSpec(
        mode=Mode.T2V,
        kie_model="",
        inputs=(),
        prompt=PromptRule(False, 0, 0),
        options=tuple(options),
        forbidden=tuple(forbidden),
    )
    return {price_key(o): price_of(o) for o in spec.option_sets()}


def to_decimal(markup: float | Decimal | int | str) -> Decimal:
    # Through str() so that 1.1 means Decimal("1.1"), not the binary float 1.100000000000000088...
    value = markup if isinstance(markup, Decimal) else Decimal(str(markup))
    if not value.is_finite() or value <= 0:
        raise ValueError(f"markup must be a positive number, got {markup!r}")
    return value


def user_price(kie_credits: int, markup: Decimal) -> int:
    """KIE credits × markup, rounded up to a whole user credit."""
    return int((Decimal(kie_credits) * markup).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class ClipLengths:
    """How long a model's clips are: the lengths it makes, or that the input (audio, video) decides."""

    seconds: tuple[int, ...]  # ascending; a duration option's values or a fixed length
    follows_input: bool = False  # the uploaded audio / video sets the length (up to max(seconds))
    input_max_s: int | None = None  # the longest input accepted, when the input decides and says so


@dataclass(frozen=True)
class Retirement:
    """A model KIE (or its maker) no longer serves: kept for history and in-flight jobs, never offered."""

    on: date
    reason: str  # for operators (English); users see a localized "no longer available"

    def as_json(self) -> dict[str, str]:
        return {"date": self.on.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class ModelEntry:
    """One user-facing model variant."""

    key: str  # ASCII, ≤12 chars: travels inside callback_data
    family: Family
    maker: str
    names: Mapping[str, str]
    descriptions: Mapping[str, str]
    # A few words on what the model is best at: the model step's one-line card (model_cards.py).
    best_at: Mapping[str, str]
    modes: Mapping[str, ModeSpec]  # ordered: the first mode is offered first
    # Facts the category rules read (bot/catalog/categories.py); categories are never listed by hand.
    tier: Tier = Tier.STANDARD
    strengths: tuple[Strength, ...] = ()
    makes_sound: bool = False  # every clip comes with generated sound (no Sound option to turn it off)
    # Where a price or limit is an assumption rather than KIE's published figure, say so here.
    notes: str = ""
    markup: Decimal = Decimal(1)
    retired: Retirement | None = None
    # "new" / "recommended" marks (BADGE_MARKS), stated here; the operator's overrides may add or drop them.
    badges: tuple[str, ...] = ()
    # Set by the operator's catalog overrides (bot/catalog/overrides.py): not offered in the menu
    # (jobs already ordered still finish), and fixed user prices (mode → option set → user credits)
    # that replace KIE credits × markup for those option sets.
    hidden: bool = False
    fixed_prices: Mapping[str, Mapping[PriceKey, int]] = field(default_factory=dict)
    # mode → its price list, computed once: an entry never changes (overrides make a new one), and
    # the menus read the prices on every tap (a model step renders ~10 "from N credits").
    _price_lists: dict[str, tuple[tuple[dict[str, str], Quote], ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    @property
    def orderable(self) -> bool:
        """Offered and orderable: not retired by KIE, not hidden by the operator."""
        return self.retired is None and not self.hidden

    # --- texts -------------------------------------------------------------------------------
    def name(self, lang: str) -> str:
        return pick_text(self.names, lang)

    def display_name(self, lang: str) -> str:
        """The name with the operator's marks in front ("🆕 ⭐ Kling 2.6")."""
        marks = "".join(f"{BADGE_MARKS[badge]} " for badge in self.badges if badge in BADGE_MARKS)
        return f"{marks}{self.name(lang)}"

    def description(self, lang: str) -> str:
        return pick_text(self.descriptions, lang)

    def best_at_text(self, lang: str) -> str:
        return pick_text(self.best_at, lang)

    # --- facts for categories and cards --------------------------------------------------------
    @property
    def sound(self) -> Sound:
        """The clip's sound: the user's audio, a Sound option, always made, or none."""
        specs = self.modes.values()
        if any(rule.kind is InputKind.AUDIO for spec in specs for rule in spec.inputs):
            return Sound.VOICE
        if any(spec.option("sound") is not None for spec in specs):
            return Sound.OPTIONAL
        return Sound.ALWAYS if self.makes_sound else Sound.NONE

    def renders_natively(self, ratio: str) -> bool:
        """True when some mode offers `ratio` (the model renders it, no cropping of a photo)."""
        return any(ratio in spec.ratios for spec in self.modes.values())

    def takes(self, kind: str) -> bool:
        """True when some mode takes an input of `kind` ("image", "audio", "video")."""
        return any(rule.kind == kind for spec in self.modes.values() for rule in spec.inputs)

    def price_from(self, modes: Iterable[str] | None = None) -> int:
        """"From N credits": the cheapest order in `modes` (the modes a menu shows; every mode if None)."""
        shown = [m for m in (self.modes if modes is None else modes) if m in self.modes]
        return min(self.cheapest(mode) for mode in shown or self.modes)

    def clip_lengths(self, modes: Iterable[str] | None = None) -> ClipLengths:
        """The clip lengths `modes` can make (every mode if None)."""
        shown = [m for m in (self.modes if modes is None else modes) if m in self.modes] or list(self.modes)
        seconds: set[int] = set()
        follows_input = False
        input_max: list[int] = []
        for mode in shown:
            spec = self.modes[mode]
            duration = spec.option("duration")
            if duration is not None:
                seconds.update(int(v) for v in duration.values if v.isdigit())
            elif spec.clip_seconds is not None:
                seconds.add(spec.clip_seconds)
            for rule in spec.inputs:
                if rule.duration_option or rule.kind is InputKind.VIDEO:
                    follows_input = True
                    if rule.max_duration_s is not None:
                        input_max.append(rule.max_duration_s)
        return ClipLengths(tuple(sorted(seconds)), follows_input, max(input_max) if input_max else None)

    # --- structure ---------------------------------------------------------------------------
    def mode_spec(self, mode: str) -> ModeSpec:
        """The mode's spec; KeyError for a mode this model does not offer."""
        return self.modes[mode]

    def options_for(self, mode: str) -> tuple[OptionSpec, ...]:
        return self.modes[mode].options

    def ratios_for(self, mode: str) -> tuple[str, ...]:
        return self.modes[mode].ratios

    def prompt_rule(self, mode: str) -> PromptRule:
        return self.modes[mode].prompt

    def input_rules(self, mode: str, options: Mapping[str, str] | None = None) -> tuple[InputRule, ...]:
        """The input slots of `mode`. With `options`, length caps tied to an option are applied."""
        spec = self.modes[mode]
        if options is None:
            return spec.inputs
        resolved = {**spec.defaults(), **options}
        rules = []
        for rule in spec.inputs:
            if rule.duration_option and resolved.get(rule.duration_option, "").isdigit():
                cap = int(resolved[rule.duration_option])
                limit = cap if rule.max_duration_s is None else min(cap, rule.max_duration_s)
                rule = InputRule(rule.kind, rule.count, rule.mime_types, rule.max_bytes, limit,
                                 rule.duration_option)
            rules.append(rule)
        return tuple(rules)

    def allowed_values(self, mode: str, option_key: str, chosen: Mapping[str, str]) -> tuple[str, ...]:
        """Values of `option_key` that form no forbidden combination with what is already chosen."""
        spec = self.modes[mode]
        option = spec.option(option_key)
        if option is None:
            return ()
        others = {k: v for k, v in chosen.items() if k != option_key}
        return tuple(
            value
            for value in option.values
            if not any(violates(f, {**others, option_key: value}) for f in spec.forbidden)
        )

    # --- validation --------------------------------------------------------------------------
    def resolve_options(self, mode: str, options: Mapping[str, str]) -> dict[str, str]:
        """`options` with defaults filled in; InvalidOrder for unknown keys/values or forbidden sets."""
        spec = self.modes.get(mode)
        if spec is None:
            raise InvalidOrder("unknown_mode", model=self.key, mode=mode)
        for key, value in options.items():
            option = spec.option(key)
            if option is None or value not in option.values:
                raise InvalidOrder("bad_option", option=key, value=value)
        resolved = {o.key: options.get(o.key, o.default) for o in spec.options}
        for forbidden in spec.forbidden:
            if violates(forbidden, resolved):
                raise InvalidOrder("forbidden_combination", options=dict(forbidden))
        return resolved

    def validate(self, order: Order) -> None:
        """Raise InvalidOrder for the first problem found in `order` (which names this entry)."""
        if order.model_key != self.key:
            raise InvalidOrder("unknown_model", model=order.model_key)
        if self.retired is not None:
            raise InvalidOrder("model_retired", model=self.key, date=self.retired.on.isoformat())
        spec = self.modes.get(order.mode)
        if spec is None:
            raise InvalidOrder("unknown_mode", model=self.key, mode=order.mode)
        if spec.ratios:
            if order.ratio not in spec.ratios:
                raise InvalidOrder("bad_ratio", ratio=order.ratio, allowed=spec.ratios)
        elif order.ratio is not None:
            raise InvalidOrder("bad_ratio", ratio=order.ratio, allowed=())
        self.resolve_options(order.mode, order.options)
        spec.prompt.check(order.prompt)

        expected = {r.kind.value: r.count for r in spec.inputs}
        for kind, count in expected.items():
            given = len([url for url in order.inputs.get(kind, ()) if url])
            if given < count:
                raise InvalidOrder("missing_input", kind=kind, count=count, given=given)
            if given > count:
                raise InvalidOrder("unexpected_input", kind=kind, count=count, given=given)
        for kind, urls in order.inputs.items():
            if kind not in expected and urls:
                raise InvalidOrder("unexpected_input", kind=kind, count=0, given=len(urls))

    # --- prices ------------------------------------------------------------------------------
    def kie_price(self, mode: str, options: Mapping[str, str]) -> int:
        resolved = self.resolve_options(mode, options)
        return self.modes[mode].prices[price_key(resolved)]

    def quote(self, mode: str, options: Mapping[str, str]) -> Quote:
        resolved = self.resolve_options(mode, options)
        return self._quote(mode, price_key(resolved))

    def _quote(self, mode: str, key: PriceKey) -> Quote:
        kie = self.modes[mode].prices[key]
        fixed = self.fixed_prices.get(mode, {}).get(key)
        user = fixed if fixed is not None else user_price(kie, self.markup)
        return Quote(kie_credits=kie, user_credits=user)

    def price_list(self, mode: str) -> list[tuple[dict[str, str], Quote]]:
        """Every allowed option set of `mode` with its price, in option order."""
        return [(dict(options), quote) for options, quote in self._price_list(mode)]

    def _price_list(self, mode: str) -> tuple[tuple[dict[str, str], Quote], ...]:
        cached = self._price_lists.get(mode)
        if cached is None:
            spec = self.modes[mode]
            cached = tuple((o, self._quote(mode, price_key(o))) for o in spec.option_sets())
            self._price_lists[mode] = cached
        return cached

    def cheapest(self, mode: str, chosen: Mapping[str, str] | None = None) -> int:
        """User credits of the cheapest allowed order in `mode` that keeps the `chosen` option values:
        the price an option button shows before the options after it are chosen."""
        wanted = dict(chosen or {})
        return min(
            quote.user_credits
            for options, quote in self._price_list(mode)
            if all(options.get(key) == value for key, value in wanted.items())
        )

    def clip_length(self, mode: str, options: Mapping[str, str]) -> int | None:
        """Seconds of video the order makes; None when the input video decides."""
        spec = self.modes[mode]
        duration = spec.option("duration")
        if duration is not None:
            value = options.get("duration", duration.default)
            return int(value) if value.isdigit() else None
        return spec.clip_seconds

    @property
    def min_kie_price(self) -> int:
        """The cheapest allowed option set's KIE price over every mode (forbidden sets excluded)."""
        return min(quote.kie_credits for mode in self.modes for _options, quote in self._price_list(mode))

    @property
    def min_user_price(self) -> int:
        """The cheapest order in any of the model's modes, in user credits; menus use
        Catalog.price_from, which counts only the modes they show."""
        return self.price_from()


@dataclass(frozen=True)
class Catalog:
    entries: tuple[ModelEntry, ...]
    markup: Decimal = Decimal(1)
    _by_key: Mapping[str, ModelEntry] = field(init=False, repr=False, compare=False)
    # What KIE's model list last said (services/catalog_sync.py); menus read it through `offered*`.
    availability: Availability = field(default_factory=Availability, repr=False, compare=False)
    # category → (the availability it was computed for, its members); entries never change.
    _category_cache: dict[str, tuple[Any, tuple[ModelEntry, ...]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # Values derived from the entries and the availability (`derived`): (the availability they were
    # computed for, key → value); emptied when the availability changes.
    _derived: list[Any] = field(init=False, repr=False, compare=False, default_factory=lambda: [None, {}])

    def __post_init__(self) -> None:
        by_key = {e.key: e for e in self.entries}
        if len(by_key) != len(self.entries):
            raise ValueError("duplicate model keys in the catalog")
        object.__setattr__(self, "_by_key", by_key)

    def get(self, key: str) -> ModelEntry | None:
        """Any entry, retired ones included (history, jobs in flight); menus use `offerable`."""
        return self._by_key.get(key)

    # --- what the menus offer (retired and hidden entries stay gettable by key) ---------------------
    def offerable(self) -> tuple[ModelEntry, ...]:
        """Entries a user can pick now, in menu order: orderable (not retired, not hidden by the
        operator) and KIE lists at least one of their modes. The one list every menu reads."""
        return tuple(e for e in self.entries if self.availability.is_offered(e))

    def get_offerable(self, key: str) -> ModelEntry | None:
        entry = self._by_key.get(key)
        return entry if entry is not None and self.availability.is_offered(entry) else None

    def offered_modes(self, entry: ModelEntry) -> tuple[str, ...]:
        return self.availability.offered_modes(entry)

    def is_degraded(self, entry: ModelEntry, mode: str | None = None) -> bool:
        """KIE reports a not-normal success rate: menus show a warning mark."""
        return self.availability.is_degraded(entry, mode)

    def shown_modes(self, entry: ModelEntry, modes: Iterable[str] | None = None) -> tuple[str, ...]:
        """The modes a menu shows for `entry`: those offered now (every mode while none is, e.g. a
        draft begun before the model was hidden), narrowed to `modes` when given (text → video for
        an order begun with a text)."""
        offered = self.offered_modes(entry) or tuple(entry.modes)
        wanted = None if modes is None else set(modes)
        return tuple(m for m in offered if wanted is None or m in wanted) or offered

    def price_from(self, entry: ModelEntry, modes: Iterable[str] | None = None) -> int:
        """"From N credits": the cheapest order in the modes a menu shows for `entry` (shown_modes).
        The one home of that number: the model cards, /models, `python -m bot models` and kie-check."""
        return entry.price_from(self.shown_modes(entry, modes))

    def kie_price_from(self, entry: ModelEntry) -> int:
        """KIE's credits for the cheapest order of the modes shown (what price_from sells)."""
        shown = self.shown_modes(entry)
        return min(quote.kie_credits for mode in shown for _options, quote in entry.price_list(mode))

    def derived(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """`compute()` once per `key` for as long as the availability stays what it is. For values
        that follow from the entries and the availability alone (a model's menu card: the wizard
        renders a dozen per tap); `key` names everything else the value depends on."""
        state = self.availability.state
        if self._derived[0] != state:
            self._derived[:] = [state, {}]
        values: dict[Hashable, Any] = self._derived[1]
        if key not in values:
            values[key] = compute()
        value: _T = values[key]
        return value

    def in_category(self, category: str) -> tuple[ModelEntry, ...]:
        """Offered entries of `category` by its rule (bot/catalog/categories.py), cheapest first."""
        rule = CATEGORY_BY_KEY.get(category)
        if rule is None:
            return ()
        state = self.availability.state
        cached = self._category_cache.get(category)
        if cached is not None and cached[0] == state:
            return cached[1]
        members = rule.members([(e, self.price_from(e)) for e in self.offerable()])
        self._category_cache[category] = (state, members)
        return members

    def categories(self) -> tuple[str, ...]:
        """Category keys that have at least one model, in menu order."""
        return tuple(c for c in CATEGORIES if self.in_category(c))

    def categories_of(self, entry: ModelEntry) -> tuple[str, ...]:
        """The categories that show `entry` now (none when it is not offered)."""
        return tuple(c for c in CATEGORIES if any(e.key == entry.key for e in self.in_category(c)))

    def _entry(self, key: str) -> ModelEntry:
        entry = self.get(key)
        if entry is None:
            raise InvalidOrder("unknown_model", model=key)
        return entry

    def validate(self, order: Order) -> None:
        self._entry(order.model_key).validate(order)

    def quote(self, model_key: str, mode: str, options: Mapping[str, str]) -> Quote:
        return self._entry(model_key).quote(mode, options)

    def min_price(self, key: str) -> int | None:
        entry = self.get_offerable(key)
        return None if entry is None else self.price_from(entry)

