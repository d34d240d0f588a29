"""The interface every KIE endpoint family implements, and the lookup by family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.catalog import Family, ModelEntry, Order
from bot.kie.adapters.aleph import AlephAdapter
from bot.kie.adapters.market import MarketAdapter
from bot.kie.adapters.modify import ModifyAdapter
from bot.kie.adapters.runway import RunwayAdapter
from bot.kie.adapters.veo import VeoAdapter
from bot.kie.types import CreateRequest, StatusRequest, TaskResult


class FamilyAdapter(Protocol):
    family: Family

    def build_create(self, entry: ModelEntry, order: Order, callback_url: str | None) -> CreateRequest:
        """The create call for a validated-or-not order (raises InvalidOrder if the order is invalid)."""
        ...

    def status_request(self, task_id: str) -> StatusRequest: ...

    def parse_status(self, data: Mapping[str, Any]) -> TaskResult:
        """`data` is the `data` object of a status response whose envelope code was 200."""
        ...

    def parse_callback(self, body: Mapping[str, Any]) -> TaskResult:
        """`body` is the whole callback JSON body."""
        ...


_ADAPTERS: dict[Family, FamilyAdapter] = {
    Family.VEO: VeoAdapter(),
    Family.RUNWAY: RunwayAdapter(),
    Family.ALEPH: AlephAdapter(),
    Family.MODIFY: ModifyAdapter(),
    Family.MARKET: MarketAdapter(),
}


def adapter_for(family: Family | str) -> FamilyAdapter:
    """The adapter for `family` (a Family or its string value); ValueError for an unknown family."""
    return _ADAPTERS[Family(family)]
