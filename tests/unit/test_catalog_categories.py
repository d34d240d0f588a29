"""The menu's categories are rules over catalog facts (bot/catalog/categories.py): these tests state
the rules and the promises a user reads from a category's name."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot.catalog import CATEGORIES, Catalog, Sound, Strength, Tier, build_catalog
from bot.catalog.categories import CATEGORY_CAP, CATEGORY_RULES, category_name, category_rule
from bot.catalog.facts import TIER_RANK
from bot.catalog.overrides import CatalogOverrides, ModelOverride

CATALOG = build_catalog()
FAST_NAME = re.compile(r"\b(fast|turbo)\b", re.IGNORECASE)
LOWER_TIER_NAME = re.compile(r"\b(fast|turbo|standard|lite)\b", re.IGNORECASE)


def members(catalog: Catalog, category: str) -> list[str]:
    return [e.key for e in catalog.in_category(category)]


def test_every_category_is_non_empty_small_and_cheapest_first() -> None:
    assert CATEGORIES == (
        "cinematic", "fast", "quality", "audio", "stylization", "avatar", "postprod", "shorts"
    )
    assert CATALOG.categories() == CATEGORIES
    for category in CATEGORIES:
        shown = CATALOG.in_category(category)
        assert 1 <= len(shown) <= CATEGORY_CAP, category
        prices = [CATALOG.price_from(e) for e in shown]
        assert prices == sorted(prices), category
        for lang in ("en", "ru"):
            assert category_name(category, lang) and category_rule(category, lang)


def test_every_offerable_model_is_reachable_from_a_category() -> None:
    reachable = {e.key for c in CATEGORIES for e in CATALOG.in_category(c)}
    assert {e.key for e in CATALOG.offerable()} <= reachable
    for entry in CATALOG.offerable():
        assert CATALOG.categories_of(entry), entry.key


def test_retired_and_hidden_models_never_appear() -> None:
    retired = {e.key for e in CATALOG.entries if e.retired is not None}
    assert retired >= {"sora2", "sora2_pro"}
    hidden = build_catalog(menu=CatalogOverrides(models={"veo_fast": ModelOverride(hidden=True)}))
    for catalog in (CATALOG, hidden):
        shown = {e.key for c in CATEGORIES for e in catalog.in_category(c)}
        assert not shown & retired
    assert "veo_fast" not in {e.key for c in CATEGORIES for e in hidden.in_category(c)}
    # The next model by the rule takes the hidden one's place.
    assert len(hidden.in_category("fast")) == len(CATALOG.in_category("fast")) - 1
    # KIE no longer lists a model: it leaves its categories too.
    unlisted = build_catalog()
    unlisted.availability.missing = frozenset({"veo3_fast"})
    assert "veo_fast" not in {e.key for c in CATEGORIES for e in unlisted.in_category(c)}


def test_fast_holds_every_fast_and_turbo_model_and_nothing_else() -> None:
    fast = set(members(CATALOG, "fast"))
    for entry in CATALOG.offerable():
        says_fast = bool(FAST_NAME.search(entry.name("en"))) or "turbo" in entry.description("en").lower()
        assert (entry.tier is Tier.FAST) == says_fast, entry.key
        assert (entry.key in fast) == says_fast, entry.key
    assert {"veo_fast", "seedance2f", "seed_pfast", "kling25", "runway"} == fast


def test_best_quality_is_the_top_tier_only() -> None:
    quality = CATALOG.in_category("quality")
    assert all(e.tier is Tier.TOP for e in quality)
    assert not any(LOWER_TIER_NAME.search(e.name("en")) for e in quality)
    assert "veo_quality" in members(CATALOG, "quality") and "veo_fast" not in members(CATALOG, "quality")
    assert "hailuo23_std" not in members(CATALOG, "quality")
    tops = [e for e in CATALOG.offerable() if e.tier is Tier.TOP]
    assert len(quality) == min(len(tops), CATEGORY_CAP)


def test_with_audio_models_make_sound_and_the_best_tiers_are_kept() -> None:
    audio = CATALOG.in_category("audio")
    assert all(e.sound in (Sound.ALWAYS, Sound.OPTIONAL) for e in audio)
    makers = [e for e in CATALOG.offerable() if e.sound in (Sound.ALWAYS, Sound.OPTIONAL)]
    left_out = [e for e in makers if e not in audio]
    assert left_out, "more models make sound than a category shows: the rule has to choose"
    lowest_kept = min(TIER_RANK[e.tier] for e in audio)
    assert all(TIER_RANK[e.tier] <= lowest_kept for e in left_out)
    assert {e.key for e in CATALOG.offerable() if e.tier is Tier.TOP and e.sound is not Sound.NONE} <= {
        e.key for e in audio
    }


def test_sound_is_derived_from_the_entry() -> None:
    # A Sound option, the user's own audio, or sound on every clip (stated in the entry).
    assert CATALOG.get("kling26").sound is Sound.OPTIONAL  # type: ignore[union-attr]
    assert CATALOG.get("kavatar_std").sound is Sound.VOICE  # type: ignore[union-attr]
    assert CATALOG.get("veo_lite").sound is Sound.ALWAYS  # type: ignore[union-attr]
    assert CATALOG.get("runway").sound is Sound.NONE  # type: ignore[union-attr]
    for entry in CATALOG.entries:
        says_sound = "sound" in entry.description("en").lower() or "audio" in entry.description("en").lower()
        assert (entry.sound is not Sound.NONE) == says_sound or entry.sound is Sound.VOICE, entry.key


def test_shorts_are_native_9_16_with_sound_first() -> None:
    shorts = CATALOG.in_category("shorts")
    assert all(e.renders_natively("9:16") for e in shorts)
    native = [e for e in CATALOG.offerable() if e.renders_natively("9:16")]
    assert len(native) > CATEGORY_CAP  # so the rule has to choose
    with_sound = [e for e in native if e.sound is not Sound.NONE]
    assert all(e.sound is not Sound.NONE for e in shorts)
    assert len(shorts) == min(len(with_sound), CATEGORY_CAP)
    # The cheapest native-9:16 models with sound.
    cut = max(CATALOG.price_from(e) for e in shorts)
    assert all(CATALOG.price_from(e) >= cut for e in with_sound if e not in shorts)
    assert "veo_lite" in members(CATALOG, "shorts")
    assert "hailuo02_std" not in members(CATALOG, "shorts")  # no aspect-ratio choice: not native 9:16


def test_avatar_postprod_cinematic_and_stylization_rules() -> None:
    assert all(e.sound is Sound.VOICE for e in CATALOG.in_category("avatar"))
    assert set(members(CATALOG, "avatar")) == {"kavatar_std", "kavatar_pro", "wan_s2v"}
    assert set(members(CATALOG, "postprod")) == {"aleph", "luma"}
    assert all(e.takes("video") for e in CATALOG.in_category("postprod"))
    assert all(Strength.CINEMATIC in e.strengths for e in CATALOG.in_category("cinematic"))
    assert all(Strength.STYLE in e.strengths for e in CATALOG.in_category("stylization"))
    # A description promising a cinematic look is a model of the Cinematic category's rule.
    for entry in CATALOG.entries:
        if "cinematic" in entry.description("en").lower():
            assert Strength.CINEMATIC in entry.strengths, entry.key


def test_no_category_lists_models_by_hand() -> None:
    """Change a fact, and the categories follow: a model made Fast joins Fast."""
    wan = CATALOG.get("wan25")
    assert wan is not None and "wan25" not in members(CATALOG, "fast")
    entries = tuple(
        dataclasses.replace(e, tier=Tier.FAST) if e.key == "wan25" else e for e in CATALOG.entries
    )
    changed = Catalog(entries=entries, markup=CATALOG.markup)
    assert "wan25" in members(changed, "fast")
    for rule in CATEGORY_RULES:
        assert not hasattr(rule, "models")
    assert not hasattr(wan, "categories")


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_members_ignore_the_menu_order_override(category: str) -> None:
    """The operator's `order` changes All models, not which models a rule admits."""
    reordered = build_catalog(menu=CatalogOverrides(order=("luma", "runway", "wan25")))
    assert set(members(reordered, category)) == set(members(CATALOG, category))
