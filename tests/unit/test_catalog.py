"""The catalog: every model orderable, constraints enforced, prices from kie-api.md, exact markup."""

from __future__ import annotations

import io
import itertools
import json
from decimal import Decimal

import pytest

from bot.catalog import (
    CATEGORIES,
    TELEGRAM_DOWNLOAD_LIMIT_BYTES,
    Catalog,
    InvalidOrder,
    Mode,
    ModelEntry,
    Order,
    PriceOverrides,
    build_catalog,
    build_catalog_from_settings,
    catalog_as_json,
    is_english,
    user_price,
)
from bot.catalog.model import violates
from bot.cli_models import print_models


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog()


def sample_order(entry: ModelEntry, mode_key: str, **changes: object) -> Order:
    """A valid order for `mode_key` with default options; `changes` override Order fields."""
    spec = entry.mode_spec(mode_key)
    inputs = {
        r.kind.value: tuple(f"https://files.test/{r.kind}{i}" for i in range(r.count)) for r in spec.inputs
    }
    fields: dict[str, object] = {
        "model_key": entry.key,
        "mode": mode_key,
        "ratio": spec.ratios[0] if spec.ratios else None,
        "options": {},
        "prompt": "A red fox running through snow at sunrise",
        "inputs": inputs,
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def all_modes(catalog: Catalog) -> list[tuple[ModelEntry, str]]:
    return [(entry, mode) for entry in catalog.offerable() for mode in entry.modes]


# --- the table in the brief: every row is there and orderable -------------------------------------
EXPECTED_KIE_MODELS = {
    "veo3_fast",
    "veo3",
    "veo3_lite",
    "kling/v2-5-turbo-text-to-video-pro",
    "kling/v2-5-turbo-image-to-video-pro",
    "kling-2.6/text-to-video",
    "kling-2.6/image-to-video",
    "kling/ai-avatar-standard",
    "kling/ai-avatar-pro",
    "hailuo/2-3-image-to-video-standard",
    "hailuo/2-3-image-to-video-pro",
    "hailuo/02-text-to-video-standard",
    "hailuo/02-text-to-video-pro",
    "hailuo/02-image-to-video-standard",
    "hailuo/02-image-to-video-pro",
    "wan/2-5-text-to-video",
    "wan/2-5-image-to-video",
    "wan/2-2-a14b-speech-to-video-turbo",
    "bytedance/v1-lite-text-to-video",
    "bytedance/v1-lite-image-to-video",
    "bytedance/v1-pro-text-to-video",
    "bytedance/v1-pro-image-to-video",
    "bytedance/v1-pro-fast-image-to-video",
    # the 2026 line-up (kie-api-2026.md §1.3)
    "bytedance/seedance-2",
    "bytedance/seedance-2-fast",
    "bytedance/seedance-2-5",
    "kling-3.0/video",
    "minimax-h3/text-to-video",
    "minimax-h3/image-to-video",
    "wan/2-6-text-to-video",
    "wan/2-6-image-to-video",
}


def test_every_table_row_is_in_the_catalog(catalog: Catalog) -> None:
    kie_models = {spec.kie_model for entry in catalog.offerable() for spec in entry.modes.values()}
    assert kie_models >= EXPECTED_KIE_MODELS
    assert not any(m.startswith("sora") for m in kie_models)
    families = {entry.family.value for entry in catalog.entries}
    assert families == {"veo", "runway", "aleph", "modify", "market"}
    assert catalog.get("runway") is not None and set(catalog.get("runway").modes) == {"t2v", "i2v"}  # type: ignore[union-attr]
    assert set(catalog.get("veo_fast").modes) == {"t2v", "i2v", "frames"}  # type: ignore[union-attr]
    assert set(catalog.get("aleph").modes) == {"v2v"}  # type: ignore[union-attr]
    assert set(catalog.get("luma").modes) == {"v2v"}  # type: ignore[union-attr]
    assert set(catalog.get("wan_s2v").modes) == {"s2v"}  # type: ignore[union-attr]
    assert set(catalog.get("kavatar_pro").modes) == {"avatar"}  # type: ignore[union-attr]


def test_every_mode_orderable_with_every_allowed_option_set(catalog: Catalog) -> None:
    for entry, mode in all_modes(catalog):
        spec = entry.mode_spec(mode)
        catalog.validate(sample_order(entry, mode))
        for ratio in spec.ratios or (None,):
            for options in spec.option_sets():
                order = sample_order(entry, mode, ratio=ratio, options=options)
                catalog.validate(order)
                quote = catalog.quote(entry.key, mode, options)
                assert quote.kie_credits >= 1 and quote.user_credits >= quote.kie_credits
        # every allowed set has exactly one price, no stray prices
        assert len(spec.prices) == len(spec.option_sets()) >= 1


def test_defaults_are_an_allowed_combination(catalog: Catalog) -> None:
    for entry, mode in all_modes(catalog):
        spec = entry.mode_spec(mode)
        assert not any(violates(f, spec.defaults()) for f in spec.forbidden), (entry.key, mode)


def test_entries_have_texts_categories_and_sane_rules(catalog: Catalog) -> None:
    for entry in catalog.entries:
        for lang in ("en", "ru"):
            assert entry.name(lang) and entry.description(lang)
        assert entry.description("de") == entry.description("en")  # unknown language falls back to English
        assert entry.maker
        assert entry.best_at_text("en") and entry.best_at_text("ru")
        for spec in entry.modes.values():
            rule = spec.prompt
            assert rule.max_length >= 800
            assert rule.min_length == (1 if rule.required else 0)
            for inp in spec.inputs:
                assert 0 < inp.max_bytes <= TELEGRAM_DOWNLOAD_LIMIT_BYTES
                assert inp.mime_types and all("/" in m for m in inp.mime_types)
                assert inp.count >= 1


def test_ratios_put_9_16_first(catalog: Catalog) -> None:
    for entry, mode in all_modes(catalog):
        ratios = entry.ratios_for(mode)
        if ratios:
            assert ratios[0] == "9:16", (entry.key, mode)
            assert len(set(ratios)) == len(ratios)
    assert catalog.get("veo_fast").ratios_for("i2v") == ("9:16", "16:9", "auto")  # type: ignore[union-attr]
    assert catalog.get("veo_fast").ratios_for("t2v") == ("9:16", "16:9")  # type: ignore[union-attr]
    assert catalog.get("runway").ratios_for("i2v") == ()  # type: ignore[union-attr]  # the image decides


def test_callback_visible_keys_are_short_ascii(catalog: Catalog) -> None:
    for entry in catalog.entries:
        assert entry.key.isascii() and 1 <= len(entry.key) <= 12 and ":" not in entry.key
        for mode, spec in entry.modes.items():
            assert mode in {m.value for m in Mode}
            for ratio in spec.ratios:
                assert ratio.isascii() and len(ratio) <= 5
            for option in spec.options:
                assert option.key.isascii() and len(option.key) <= 10
                for value in option.values:
                    assert value.isascii() and len(value) <= 8
                    # a plausible callback_data: prefix:model:mode:option:value fits Telegram's 64 bytes
                    assert len(f"opt:{entry.key}:{mode}:{option.key}:{value}".encode()) <= 64


# --- forbidden combinations ---------------------------------------------------------------------
def test_allowed_values_never_offers_a_forbidden_combination(catalog: Catalog) -> None:
    for entry, mode in all_modes(catalog):
        spec = entry.mode_spec(mode)
        keys = [o.key for o in spec.options]
        for ask_order in itertools.permutations(keys):
            # walk every path the wizard could take, asking options in this order
            paths: list[dict[str, str]] = [{}]
            for key in ask_order:
                next_paths = []
                for chosen in paths:
                    offered = entry.allowed_values(mode, key, chosen)
                    assert offered, (entry.key, mode, key, chosen)
                    for value in offered:
                        combo = {**chosen, key: value}
                        assert not any(violates(f, combo) for f in spec.forbidden), (entry.key, combo)
                        next_paths.append(combo)
                paths = next_paths
            for complete in paths:
                catalog.quote(entry.key, mode, complete)


def test_runway_and_hailuo23_forbid_1080p_at_10s(catalog: Catalog) -> None:
    runway = catalog.get("runway")
    assert runway is not None
    assert runway.allowed_values("t2v", "resolution", {"duration": "10"}) == ("720p",)
    assert runway.allowed_values("t2v", "duration", {"resolution": "1080p"}) == ("5",)
    assert runway.allowed_values("t2v", "resolution", {"duration": "5"}) == ("720p", "1080p")
    # the option being asked is re-chosen freely: its own earlier value does not restrict it
    assert runway.allowed_values("t2v", "duration", {"duration": "10"}) == ("5", "10")
    hailuo = catalog.get("hailuo23_pro")
    assert hailuo is not None
    assert hailuo.allowed_values("i2v", "resolution", {"duration": "10"}) == ("768P",)
    assert hailuo.allowed_values("i2v", "nonexistent", {}) == ()
    # Wan 2.5 sells 10 s at 1080p: no general rule
    wan = catalog.get("wan25")
    assert wan is not None
    assert wan.allowed_values("t2v", "resolution", {"duration": "10"}) == ("720p", "1080p")


# --- prices -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "mode", "options", "kie_credits"),
    [
        ("runway", "t2v", {"duration": "5", "resolution": "720p"}, 12),
        ("runway", "t2v", {"duration": "10", "resolution": "720p"}, 30),
        ("runway", "i2v", {"duration": "5", "resolution": "1080p"}, 30),
        ("veo_fast", "t2v", {"resolution": "720p"}, 60),
        ("veo_fast", "frames", {"resolution": "1080p"}, 65),
        ("veo_quality", "i2v", {}, 250),
        ("veo_lite", "t2v", {"resolution": "1080p"}, 35),
        ("kling26", "t2v", {"duration": "5", "sound": "on"}, 110),
        ("kling26", "i2v", {"duration": "10", "sound": "off"}, 110),
        ("kling26", "t2v", {"duration": "10", "sound": "on"}, 220),
        ("kling25", "i2v", {"duration": "10"}, 84),
        ("wan25", "t2v", {"duration": "10", "resolution": "1080p"}, 200),
        ("wan25", "i2v", {"duration": "5", "resolution": "720p"}, 60),
        ("sora2", "t2v", {"duration": "10"}, 30),
        ("sora2_pro", "t2v", {"duration": "15", "size": "high"}, 630),
        ("sora2_pro", "i2v", {"duration": "10", "size": "standard"}, 150),
        ("hailuo23_std", "i2v", {"duration": "6", "resolution": "1080P"}, 50),
        ("hailuo23_pro", "i2v", {"duration": "10", "resolution": "768P"}, 90),
        ("hailuo02_std", "t2v", {"duration": "10"}, 50),
        ("hailuo02_std", "i2v", {"duration": "6", "resolution": "512P"}, 12),
        ("hailuo02_pro", "i2v", {}, 57),
        ("kavatar_std", "avatar", {"duration": "15"}, 120),
        ("kavatar_pro", "avatar", {"duration": "5"}, 80),
        ("wan_s2v", "s2v", {"resolution": "720p"}, 120),
        ("aleph", "v2v", {}, 110),
        # settings-backed defaults
        ("luma", "v2v", {}, 120),
        ("seed_lite", "t2v", {"duration": "10"}, 40),
        ("seed_pro", "i2v", {"duration": "5", "resolution": "1080p"}, 70),
        ("seed_pfast", "i2v", {"duration": "10"}, 90),
        ("sora2", "i2v", {"duration": "15"}, 45),
        ("hailuo02_std", "i2v", {"duration": "6", "resolution": "768P"}, 30),
    ],
)
def test_prices_from_the_doc(
    catalog: Catalog, key: str, mode: str, options: dict[str, str], kie_credits: int
) -> None:
    assert catalog.quote(key, mode, options).kie_credits == kie_credits


def test_markup_rounds_up_exactly() -> None:
    assert user_price(30, Decimal("1.1")) == 33  # the float 1.1 * 30 is 33.000000000000004
    marked = build_catalog(markup=1.1)
    assert marked.quote("runway", "t2v", {"duration": "10"}).user_credits == 33
    assert marked.quote("kling25", "t2v", {}).user_credits == 47  # 42 × 1.1 = 46.2 → 47
    assert build_catalog(markup=Decimal("1.25")).quote("kling25", "t2v", {}).user_credits == 53  # 52.5 → 53
    assert build_catalog(markup="2").quote("veo_fast", "t2v", {}).user_credits == 120
    assert build_catalog(markup=1).quote("veo_fast", "t2v", {}).user_credits == 60
    assert build_catalog(markup=0.7).quote("runway", "t2v", {}).user_credits == 9  # 8.4 → 9
    with pytest.raises(ValueError, match="markup"):
        build_catalog(markup=0)


def test_min_prices_are_the_cheapest_option_set() -> None:
    catalog = build_catalog(markup=1.1)
    assert catalog.min_price("runway") == 14  # 12 × 1.1 = 13.2 → 14
    assert catalog.get("runway").min_user_price == 14  # type: ignore[union-attr]
    assert catalog.get("kling26").min_kie_price == 55  # type: ignore[union-attr]
    assert catalog.get("hailuo02_std").min_kie_price == 12  # type: ignore[union-attr]
    assert catalog.min_price("nope") is None


def test_price_overrides_from_mapping_settings_and_env() -> None:
    custom = build_catalog(prices={"luma_modify": 200, "price_seedance_lite_per_s": 6})
    assert custom.quote("luma", "v2v", {}).kie_credits == 200
    assert custom.quote("seed_lite", "t2v", {"duration": "10"}).kie_credits == 60
    with pytest.raises(ValueError, match="unknown price override"):
        build_catalog(prices={"veo": 1})
    with pytest.raises(ValueError):
        PriceOverrides(luma_modify=0)

    from bot.config import PriceSettings

    settings = PriceSettings(
        price_markup=1.5, price_luma_modify=100, price_seedance_pro_per_s=10, _env_file=None
    )  # type: ignore[call-arg]
    from_settings = build_catalog_from_settings(settings)
    assert from_settings.quote("luma", "v2v", {}).user_credits == 150
    assert from_settings.quote("seed_pro", "t2v", {"duration": "5"}).kie_credits == 50
    assert from_settings.quote("sora2", "t2v", {"duration": "15"}).kie_credits == 45  # the default


def test_price_settings_read_the_environment_alone_and_name_a_bad_value(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.config import SettingsError, load_price_settings

    for name in ("BOT_TOKEN", "KIE_API_KEY", "PRICE_MARKUP", "PRICE_SORA2_15S", "PRICE_LUMA_MODIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRICE_MARKUP", "1.1")
    monkeypatch.setenv("PRICE_SORA2_15S", "35")
    from_env = build_catalog_from_settings(load_price_settings(_env_file=None))
    assert from_env.markup == Decimal("1.1")
    assert from_env.quote("sora2", "t2v", {"duration": "15"}).kie_credits == 35
    monkeypatch.setenv("PRICE_LUMA_MODIFY", "abc")
    with pytest.raises(SettingsError, match="PRICE_LUMA_MODIFY"):
        load_price_settings(_env_file=None)
    monkeypatch.setenv("PRICE_LUMA_MODIFY", "100")
    monkeypatch.setenv("PRICE_MARKUP", "-1")
    with pytest.raises(SettingsError, match="PRICE_MARKUP"):
        load_price_settings(_env_file=None)


def test_env_file_is_read_and_environment_wins(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.config import load_price_settings

    monkeypatch.delenv("PRICE_LUMA_MODIFY", raising=False)
    monkeypatch.setenv("PRICE_MARKUP", "3")
    env_file = tmp_path / ".env"
    env_file.write_text("PRICE_LUMA_MODIFY=150\nPRICE_MARKUP=2\n", encoding="utf-8")
    catalog = build_catalog_from_settings(load_price_settings(_env_file=env_file))
    assert catalog.quote("luma", "v2v", {}).user_credits == 450


def test_the_real_settings_class_feeds_the_catalog() -> None:
    from bot.config import Settings

    settings = Settings(
        bot_token="123:abc", kie_sandbox=True, price_markup=1.1, price_luma_modify=140, _env_file=None
    )  # type: ignore[call-arg]
    catalog = build_catalog_from_settings(settings)
    assert catalog.quote("luma", "v2v", {}).user_credits == 154


# --- validation ---------------------------------------------------------------------------------
def reason(catalog: Catalog, order: Order) -> str:
    with pytest.raises(InvalidOrder) as caught:
        catalog.validate(order)
    return caught.value.reason_key


def test_validate_rejects_each_reason(catalog: Catalog) -> None:
    runway = catalog.get("runway")
    luma = catalog.get("luma")
    veo = catalog.get("veo_fast")
    avatar = catalog.get("kavatar_std")
    assert runway and luma and veo and avatar
    base = sample_order(runway, "t2v")

    assert reason(catalog, sample_order(runway, "t2v", model_key="nope")) == "unknown_model"
    assert reason(catalog, sample_order(runway, "t2v", mode="v2v")) == "unknown_mode"
    assert reason(catalog, sample_order(runway, "t2v", ratio="21:9")) == "bad_ratio"
    assert reason(catalog, sample_order(runway, "t2v", ratio=None)) == "bad_ratio"
    assert reason(catalog, sample_order(runway, "i2v", ratio="9:16")) == "bad_ratio"  # image decides
    assert reason(catalog, sample_order(runway, "t2v", options={"duration": "8"})) == "bad_option"
    assert reason(catalog, sample_order(runway, "t2v", options={"fps": "30"})) == "bad_option"
    assert (
        reason(catalog, sample_order(runway, "t2v", options={"duration": "10", "resolution": "1080p"}))
        == "forbidden_combination"
    )
    assert reason(catalog, sample_order(runway, "t2v", prompt="   ")) == "prompt_empty"
    assert reason(catalog, sample_order(runway, "t2v", prompt="x" * 1801)) == "prompt_too_long"
    catalog.validate(sample_order(runway, "t2v", prompt="x" * 1800))
    assert reason(catalog, sample_order(luma, "v2v", prompt="Сделай закат")) == "prompt_not_english"
    assert reason(catalog, sample_order(veo, "frames", inputs={"image": ("https://a",)})) == "missing_input"
    no_audio = {"image": ("https://a",)}
    assert reason(catalog, sample_order(avatar, "avatar", inputs=no_audio)) == "missing_input"
    assert (
        reason(catalog, sample_order(veo, "i2v", inputs={"image": ("https://a", "https://b")}))
        == "unexpected_input"
    )
    stray_video = {"video": ("https://v",)}
    assert reason(catalog, sample_order(runway, "t2v", inputs=stray_video)) == "unexpected_input"
    catalog.validate(base)


def test_invalid_order_carries_params(catalog: Catalog) -> None:
    runway = catalog.get("runway")
    assert runway
    with pytest.raises(InvalidOrder) as caught:
        catalog.validate(sample_order(runway, "t2v", prompt="y" * 2000))
    assert caught.value.params == {"max": 1800, "length": 2000}
    assert "prompt_too_long" in str(caught.value)
    with pytest.raises(InvalidOrder) as caught:
        catalog.quote("runway", "t2v", {"duration": "10", "resolution": "1080p"})
    assert caught.value.reason_key == "forbidden_combination"
    with pytest.raises(InvalidOrder, match="unknown_model"):
        catalog.quote("nope", "t2v", {})


def test_optional_prompt_may_be_empty_but_not_too_long(catalog: Catalog) -> None:
    avatar = catalog.get("kavatar_pro")
    assert avatar
    rule = avatar.prompt_rule("avatar")
    assert not rule.required and rule.min_length == 0 and rule.max_length == 5000
    catalog.validate(sample_order(avatar, "avatar", prompt=""))
    assert reason(catalog, sample_order(avatar, "avatar", prompt="z" * 5001)) == "prompt_too_long"


def test_luma_rules(catalog: Catalog) -> None:
    luma = catalog.get("luma")
    assert luma
    assert luma.prompt_rule("v2v").english_only
    (video,) = luma.input_rules("v2v")
    assert video.kind == "video" and video.max_duration_s == 10 and video.max_bytes == 20 * 1024 * 1024
    assert "video/mp4" in video.mime_types
    catalog.validate(sample_order(luma, "v2v", prompt="Make it golden hour, café vibe 🌅"))


def test_avatar_audio_length_follows_the_paid_option(catalog: Catalog) -> None:
    avatar = catalog.get("kavatar_std")
    assert avatar
    image, audio = avatar.input_rules("avatar")
    assert image.kind == "image" and image.mime_types == ("image/jpeg", "image/png")
    assert audio.kind == "audio" and audio.max_duration_s == 15
    assert avatar.input_rules("avatar", {"duration": "5"})[1].max_duration_s == 5
    assert avatar.input_rules("avatar", {})[1].max_duration_s == 10  # the default option
    assert avatar.allowed_values("avatar", "duration", {}) == ("5", "10", "15")


def test_option_labels(catalog: Catalog) -> None:
    kling = catalog.get("kling26")
    assert kling
    duration, sound = kling.options_for("t2v")
    assert duration.title("ru") == "Длительность" and duration.value_title("5", "en") == "5 s"
    assert sound.value_title("off", "ru") == "Без звука"
    resolution = catalog.get("wan25").options_for("t2v")[1]  # type: ignore[union-attr]
    assert resolution.value_title("1080p", "ru") == "1080p"


@pytest.mark.parametrize(
    ("text", "english"),
    [
        ("A cat on the moon", True),
        ("Close-up, 35mm, f/1.8 — golden hour! 🎬🔥 100%", True),
        ("café crème, naïve façade", True),
        ("", True),
        ("Кот на луне", False),
        ("A cat на луне", False),
        ("月の猫", False),
        ("Γάτα", False),
        ("قطة", False),
        ("Łódź at dawn, smørrebrød", True),
        ("Phở bò ở Hà Nội", False),  # Vietnamese letters: Latin Extended Additional, refused by KIE
        ("Ｏｌｄ ｆｉｌｍ", False),  # fullwidth Latin
    ],
)
def test_is_english(text: str, english: bool) -> None:
    assert is_english(text) is english


# --- JSON and the CLI ---------------------------------------------------------------------------
def test_json_round_trips_and_lists_everything(catalog: Catalog) -> None:
    data = catalog_as_json(catalog)
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert [d["key"] for d in data] == [e.key for e in catalog.entries]
    runway = next(d for d in data if d["key"] == "runway")
    assert runway["family"] == "runway"
    prices = {
        (p["options"]["duration"], p["options"]["resolution"]): p["kie_credits"]
        for p in runway["modes"]["t2v"]["prices"]
    }
    assert prices == {("5", "720p"): 12, ("10", "720p"): 30, ("5", "1080p"): 30}
    assert runway["modes"]["t2v"]["forbidden"] == [{"duration": "10", "resolution": "1080p"}]
    veo = next(d for d in data if d["key"] == "veo_fast")
    assert veo["modes"]["frames"]["kie_model"] == "veo3_fast"
    assert veo["modes"]["frames"]["inputs"][0]["count"] == 2


def test_print_models_json_and_table(catalog: Catalog) -> None:
    out = io.StringIO()
    print_models(catalog, as_json=True, out=out)
    assert json.loads(out.getvalue()) == catalog_as_json(catalog)

    out = io.StringIO()
    print_models(build_catalog(markup=1.1), as_json=False, out=out)
    text = out.getvalue()
    assert "veo3_fast" in text and "kling-2.6/image-to-video" in text
    assert "duration=10, resolution=720p" in text
    assert f"{len(catalog.offerable())} models offered" in text
    offered_part, retired_part = text.split("Retired (never offered")
    assert "sora-2" not in offered_part and "Sora" not in offered_part
    assert "sora2 " in retired_part and "retired 2026-09-24" in retired_part


# --- retirement (issue 12): Sora 2 is gone since 2026-09-24 --------------------------------------
@pytest.mark.parametrize("key", ["sora2", "sora2_pro"])
def test_retired_sora_is_kept_but_never_offered(catalog: Catalog, key: str) -> None:
    entry = catalog.get(key)
    assert entry is not None and entry.retired is not None  # kept: old jobs and /history name it
    assert entry.retired.on.isoformat() == "2026-09-24" and "OpenAI" in entry.retired.reason
    assert not entry.orderable
    assert entry not in catalog.offerable() and catalog.get_offerable(key) is None
    assert all(entry not in catalog.in_category(c) for c in CATEGORIES)
    assert catalog.min_price(key) is None
    for mode in entry.modes:
        with pytest.raises(InvalidOrder) as caught:
            catalog.validate(sample_order(entry, mode))
        assert caught.value.reason_key == "model_retired" and caught.value.params["date"] == "2026-09-24"
    listed = {e["key"]: e for e in catalog_as_json(catalog)}
    assert listed[key]["orderable"] is False
    assert listed[key]["retired"] == {"date": "2026-09-24", "reason": entry.retired.reason}
    assert listed["veo_fast"]["orderable"] is True and listed["veo_fast"]["retired"] is None


def test_offerable_keeps_menu_order_and_drops_only_retired(catalog: Catalog) -> None:
    assert catalog.offerable() == tuple(e for e in catalog.entries if e.key not in ("sora2", "sora2_pro"))


# --- the 2026 line-up -------------------------------------------------------------------------------
NEW_ENTRIES = ("seedance2", "seedance2f", "seedance25", "kling30", "minimax_h3", "wan26")


def test_new_entries_modes_and_inputs(catalog: Catalog) -> None:
    modes = {key: tuple(catalog.get(key).modes) for key in NEW_ENTRIES}  # type: ignore[union-attr]
    assert modes == {
        "seedance2": ("t2v", "i2v", "frames", "refs"),
        "seedance2f": ("t2v", "i2v", "frames", "refs"),
        "seedance25": ("t2v", "i2v", "frames", "refs"),
        "kling30": ("t2v", "i2v", "frames"),
        "minimax_h3": ("t2v", "i2v", "frames"),
        "wan26": ("t2v", "i2v"),
    }
    for key in NEW_ENTRIES:
        entry = catalog.get(key)
        assert entry is not None and entry.orderable
        for mode, spec in entry.modes.items():
            images = sum(r.count for r in spec.inputs if r.kind == "image")
            assert images == {"t2v": 0, "i2v": 1, "frames": 2, "refs": 3}[mode], (key, mode)
            wire = spec.wire
            assert wire is not None
            # KIE refuses first/last frame and references together: no mode can send both.
            frame_fields = {"first_frame_url", "last_frame_url"} & set(wire.image_fields)
            assert not (frame_fields and wire.image_field == "reference_image_urls")
            if mode == "refs":
                assert wire.image_field == "reference_image_urls" and wire.image_as_list
                assert not wire.image_fields


def test_new_entries_durations_are_in_kies_range(catalog: Catalog) -> None:
    """Seedance 2.0 4–15, 2.5 4–30, MiniMax H3 4–15 (integers on the wire); Kling 3.0 strings "3"–"15"."""
    ranges = {"seedance2": (4, 15), "seedance2f": (4, 15), "seedance25": (4, 30), "minimax_h3": (4, 15),
              "kling30": (3, 15), "wan26": (5, 15)}
    for key, (low, high) in ranges.items():
        entry = catalog.get(key)
        assert entry is not None
        for spec in entry.modes.values():
            duration = spec.option("duration")
            assert duration is not None
            assert all(low <= int(v) <= high for v in duration.values), key
            assert spec.wire is not None
            wire_values = spec.wire.value_maps.get("duration")
            if key in ("kling30", "wan26"):
                assert wire_values is None  # KIE wants the string
            else:
                assert wire_values == {v: int(v) for v in duration.values}


def test_new_entries_prices_from_the_docs(catalog: Catalog) -> None:
    quote = catalog.quote
    # Seedance 2.5: $0.14 / $0.315 per second at 480p / 720p; 1080p the setting (158 by default).
    assert quote("seedance25", "t2v", {"duration": "10", "resolution": "480p"}).kie_credits == 280
    assert quote("seedance25", "refs", {"duration": "30", "resolution": "720p"}).kie_credits == 63 * 30
    assert quote("seedance25", "frames", {"duration": "5", "resolution": "1080p"}).kie_credits == 158 * 5
    # Kling 3.0 per second: std 14 (20 with sound), pro 18 (27 with sound).
    assert quote("kling30", "t2v", {"duration": "5", "quality": "std", "sound": "off"}).kie_credits == 70
    assert quote("kling30", "i2v", {"duration": "15", "quality": "pro", "sound": "on"}).kie_credits == 405
    assert quote("kling30", "frames", {"duration": "10", "quality": "std", "sound": "on"}).kie_credits == 200
    # MiniMax H3: $0.08/s at 768P, $0.13/s at 2K.
    assert quote("minimax_h3", "t2v", {"duration": "6", "resolution": "768P"}).kie_credits == 96
    assert quote("minimax_h3", "frames", {"duration": "15", "resolution": "2K"}).kie_credits == 390
    # Veo 4K: KIE's 4K column (§4.7).
    assert quote("veo_fast", "t2v", {"resolution": "4k"}).kie_credits == 180
    assert quote("veo_quality", "frames", {"resolution": "4k"}).kie_credits == 370
    assert quote("veo_lite", "i2v", {"resolution": "4k"}).kie_credits == 150
    assert quote("veo_lite", "t2v", {}).kie_credits == 30
    # Seedance 2.0 Fast has no 1080p.
    fast = catalog.get("seedance2f")
    assert fast is not None and fast.mode_spec("t2v").option("resolution").values == ("480p", "720p")  # type: ignore[union-attr]
    with pytest.raises(InvalidOrder):
        quote("seedance2f", "t2v", {"resolution": "1080p"})


def test_uncertain_new_prices_come_from_settings() -> None:
    defaults = PriceOverrides()
    assert (defaults.seedance2_480p_per_s, defaults.seedance2_720p_per_s, defaults.seedance2_1080p_per_s) == (
        19, 41, 102)
    assert (defaults.seedance2_fast_480p_per_s, defaults.seedance2_fast_720p_per_s) == (16, 33)
    assert defaults.seedance25_1080p_per_s == 158
    assert (defaults.wan26_720p_per_s, defaults.wan26_1080p_per_s) == (20, 30)
    priced = build_catalog(prices={"price_seedance2_720p_per_s": 50, "wan26_1080p_per_s": 40,
                                   "seedance2_fast_480p_per_s": 11, "seedance25_1080p_per_s": 114})
    assert priced.quote("seedance2", "t2v", {"duration": "10", "resolution": "720p"}).kie_credits == 500
    assert priced.quote("wan26", "i2v", {"duration": "15", "resolution": "1080p"}).kie_credits == 600
    assert priced.quote("seedance2f", "refs", {"duration": "5", "resolution": "480p"}).kie_credits == 55
    assert priced.quote("seedance25", "t2v", {"duration": "5", "resolution": "1080p"}).kie_credits == 570
    default = build_catalog()
    assert default.quote("wan26", "t2v", {"duration": "5", "resolution": "720p"}).kie_credits == 100
    assert default.quote("seedance2", "i2v", {"duration": "15", "resolution": "1080p"}).kie_credits == 1530


def test_english_rule_refuses_exactly_what_the_kie_simulator_refuses() -> None:
    """The bot's check runs before credits are reserved; a letter it lets through that KIE refuses
    would cost the user a reservation and a failed order."""
    from bot.kie.sandbox.rules import is_english as kie_is_english

    letters = (chr(code) for code in range(0x20, 0x30000))
    differing = [hex(ord(ch)) for ch in letters if is_english(ch) != kie_is_english(ch)]
    assert differing == []
