"""Pack offers: bonus over the base rate, videos of the waiting order, the covering pack."""

from __future__ import annotations

from bot.config import StarPack
from bot.services.packs import pack_offers

PACKS = (StarPack(50, 50), StarPack(250, 260), StarPack(1000, 1100))


def test_without_an_order_only_bonuses() -> None:
    offers = pack_offers(PACKS, balance=0, order_price=None)
    assert [(o.bonus_percent, o.videos, o.covers_order) for o in offers] == [
        (0, None, False),
        (4, None, False),
        (10, None, False),
    ]


def test_the_smallest_pack_that_covers_the_order_with_the_balance() -> None:
    offers = pack_offers(PACKS, balance=0, order_price=60)
    assert [(o.videos, o.covers_order) for o in offers] == [(0, False), (4, True), (18, False)]
    # With 10 credits already there, 50 more are enough.
    offers = pack_offers(PACKS, balance=10, order_price=60)
    assert [o.covers_order for o in offers] == [True, False, False]


def test_no_mark_when_the_balance_already_pays_or_no_pack_is_enough() -> None:
    assert not any(o.covers_order for o in pack_offers(PACKS, balance=60, order_price=60))
    assert not any(o.covers_order for o in pack_offers(PACKS, balance=0, order_price=5000))


def test_base_rate_is_the_cheapest_pack_in_any_order() -> None:
    offers = pack_offers((StarPack(100, 150), StarPack(20, 20)), balance=0, order_price=None)
    assert [o.bonus_percent for o in offers] == [50, 0]
