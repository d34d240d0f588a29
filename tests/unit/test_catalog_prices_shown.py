"""What the wizard shows at each choice: clip length for every mode, "from" prices per mode."""

from __future__ import annotations

from bot.catalog import build_catalog

CATALOG = build_catalog()


def test_every_mode_states_its_clip_length() -> None:
    """A duration option, a fixed clip length, or an input video that decides it."""
    for entry in CATALOG.entries:
        for mode, spec in entry.modes.items():
            takes_video = any(rule.kind.value == "video" for rule in spec.inputs)
            length = entry.clip_length(mode, spec.defaults())
            assert length is not None or takes_video, f"{entry.key} {mode}: clip length unknown"


def test_veo_is_8_seconds_and_a_duration_option_gives_its_value() -> None:
    veo = CATALOG.get("veo_fast")
    kling = CATALOG.get("kling25")
    assert veo is not None and kling is not None
    assert veo.clip_length("t2v", {}) == 8
    assert kling.clip_length("t2v", {"duration": "10"}) == 10


def test_from_prices_are_the_cheapest_allowed_order() -> None:
    hailuo = CATALOG.get("hailuo02_std")
    assert hailuo is not None
    assert (hailuo.cheapest("t2v"), hailuo.cheapest("i2v"), hailuo.min_user_price) == (30, 12, 12)
    for entry in CATALOG.entries:
        every = [q.user_credits for mode in entry.modes for _o, q in entry.price_list(mode)]
        assert entry.min_user_price == min(every)
        for mode in entry.modes:
            # A partial choice prices its cheapest completion; forbidden sets are never quoted.
            for options, quote in entry.price_list(mode):
                assert entry.cheapest(mode, options) == quote.user_credits
