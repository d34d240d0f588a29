"""Star packs in the buyer's terms: how many videos of the waiting order each buys, its bonus over
the base rate, and the smallest pack that covers the order. Pure: no I/O, no Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.config import StarPack


@dataclass(frozen=True)
class PackOffer:
    pack: StarPack
    # Whole percent more credits per star than the base rate (the cheapest pack's rate); 0 or more.
    bonus_percent: int
    # Videos of the waiting order this pack buys on its own; None without a waiting order.
    videos: int | None
    # The smallest pack that, with the balance, pays for a waiting order the balance alone does not.
    covers_order: bool


def base_rate(packs: tuple[StarPack, ...]) -> Decimal:
    """Credits per star of the cheapest pack (fewest stars): the rate bonuses are measured against."""
    cheapest = min(packs, key=lambda p: (p.stars, -p.credits))
    return Decimal(cheapest.credits) / Decimal(cheapest.stars)


def bonus_percent(pack: StarPack, base: Decimal) -> int:
    rate = Decimal(pack.credits) / Decimal(pack.stars)
    percent = ((rate / base - 1) * 100).to_integral_value(rounding=ROUND_HALF_UP)
    return max(int(percent), 0)


def pack_offers(packs: tuple[StarPack, ...], *, balance: int, order_price: int | None) -> list[PackOffer]:
    """The packs in sale order, each with its bonus and, for a waiting order of `order_price`
    credits, the videos it buys and whether it is the smallest that covers the order."""
    if not packs:
        return []
    base = base_rate(packs)
    covering: StarPack | None = None
    if order_price is not None and order_price > balance:
        enough = [p for p in packs if balance + p.credits >= order_price]
        covering = min(enough, key=lambda p: (p.stars, p.credits), default=None)
    return [
        PackOffer(
            pack=pack,
            bonus_percent=bonus_percent(pack, base),
            videos=pack.credits // order_price if order_price else None,
            covers_order=pack is covering,
        )
        for pack in packs
    ]
