"""kie-check's "ours: from N": the model cards' own helper (Catalog.price_from), so a mode KIE no
longer lists stops counting in the check as it does in the menu. Real HTTP against the KIE simulator."""

from __future__ import annotations

from bot.catalog import build_catalog
from bot.cli_kie_check import EXIT_MISSING, run_check
from bot.i18n import get_i18n
from bot.kie.client import KieClient
from bot.kie.sandbox import KieSimulator
from bot.telegram.model_cards import card_line, price_from_text

KEY = "sim-kie-check-prices"
HAILUO_I2V = "hailuo/02-image-to-video-standard"  # the cheap mode: 12 credits; text → video: 30


async def kie_check(simulator: KieSimulator, only: str) -> tuple[int, str]:
    catalog = build_catalog()
    async with KieClient(KEY, api_base=simulator.base_url, discovery_rps=100) as client:
        code, text = await run_check(client, catalog, frozenset({only}))
    return code, text


async def test_from_price_counts_only_the_modes_kie_lists() -> None:
    async with KieSimulator(KEY, discovery_limit_per_s=None) as simulator:
        _code, every_mode = await kie_check(simulator, "hailuo02_std")
        simulator.model_list.remove(HAILUO_I2V)
        code, one_mode = await kie_check(simulator, "hailuo02_std")
    assert "(ours: from 12 KIE credits, 12 credits to users)" in every_mode
    assert code == EXIT_MISSING and f"{HAILUO_I2V}  MISSING on KIE" in one_mode
    # Before: the minimum over every mode (12), though the menu no longer offers image → video.
    assert "(ours: from 30 KIE credits, 30 credits to users)" in one_mode


def test_the_check_and_the_card_say_the_same_price() -> None:
    catalog = build_catalog()
    hailuo = catalog.get("hailuo02_std")
    assert hailuo is not None
    catalog.availability.missing = frozenset({HAILUO_I2V})
    assert catalog.price_from(hailuo) == 30
    i18n = get_i18n()
    with i18n.context(), i18n.use_locale("en"):
        assert price_from_text(30) in card_line(catalog, hailuo, "en")
