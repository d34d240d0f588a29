"""Keeping the menu in step with KIE's own model list (kie-api-2026.md §1.4).

At start and every KIE_MODELS_CHECK_HOURS, in the background (never in a user's request path):
* GET /api/v1/models once: every catalog mode whose KIE model id is not listed is hidden from the
  menu (an entry with no mode left disappears); ids that are listed again come back;
* GET /models/<id>/success-rate for each of our listed ids: a not-normal rate marks the model with a
  warning in the menu, or hides it when KIE_HIDE_DEGRADED_MODELS=true;
* the admins are told once per change, in their language, which models were hidden or came back.

The result lives in `catalog.availability` (bot/catalog/availability.py), which every menu reads.
When the list cannot be read (network, 401, 429, an account without the API) or looks incomplete,
nothing new is hidden, the last good reading stays, and the reason is logged once until it changes.
All four discovery calls go through the KIE client's one 1 request/s limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.catalog.availability import listed_ids
from bot.catalog.model import Catalog, ModelEntry
from bot.kie.errors import KieError
from bot.kie.models_api import KieModelInfo, SuccessRate

log = logging.getLogger(__name__)

# A list lacking more than this share of our model ids is more likely a partial or filtered answer
# than KIE dropping half its catalog overnight: nothing is hidden on its word.
MAX_MISSING_SHARE = 0.5
PROBLEM_INCOMPLETE = "kie_model_list_incomplete"
PROBLEM_UNREADABLE = "kie_model_list_unreadable"


class ModelDiscovery(Protocol):
    """The part of KieClient this service uses."""

    async def list_models(self) -> list[KieModelInfo]: ...

    async def model_success_rate(self, model: str) -> SuccessRate: ...


@dataclass(frozen=True)
class HiddenModel:
    entry: ModelEntry
    reason: str  # availability.HIDDEN_NOT_LISTED | HIDDEN_DEGRADED


class AvailabilityAlerts(Protocol):
    async def models_availability_changed(
        self, hidden: Sequence[HiddenModel], returned: Sequence[ModelEntry]
    ) -> None: ...


@dataclass(frozen=True)
class CatalogCheckSummary:
    """For /stats: the last successful check, and why the latest one failed (if it did)."""

    checked_at: float | None  # wall clock of the last readable list
    kie_total: int  # models in KIE's list
    listed: int  # our (not retired) entries KIE lists
    hidden: tuple[ModelEntry, ...]  # our (not retired) entries hidden now
    degraded: tuple[ModelEntry, ...]  # offered but marked
    problem: str | None  # operator key of the last failure, None when the last check worked


class CatalogSync:
    def __init__(
        self,
        kie: ModelDiscovery,
        catalog: Catalog,
        *,
        interval_s: float,
        hide_degraded: bool = False,
        alerts: AvailabilityAlerts | None = None,
    ) -> None:
        self.kie = kie
        self.catalog = catalog
        self.interval_s = interval_s
        self.alerts = alerts
        catalog.availability.hide_degraded = hide_degraded
        self.checked_at: float | None = None
        self.kie_total = 0
        self.problem: str | None = None
        self._logged_problem: str | None = None
        self._rate_problems: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.checks = 0  # completed checks (readable or not), for tests and /stats

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the periodic check; the first one runs at once, in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="catalog-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # one bad check must not end the schedule
                log.exception("Catalog check against KIE's model list failed")
            await asyncio.sleep(self.interval_s)

    # ------------------------------------------------------------------ the check

    def _checked_entries(self) -> list[ModelEntry]:
        return [e for e in self.catalog.entries if e.retired is None and listed_ids(e)]

    def _offered_keys(self) -> set[str]:
        return {e.key for e in self.catalog.offerable()}

    async def check_once(self) -> None:
        try:
            await self._check()
        finally:
            self.checks += 1

    async def _check(self) -> None:
        offered_before = self._offered_keys()
        try:
            models = await self.kie.list_models()
        except KieError as exc:
            self._report_problem(exc.operator_message_key, str(exc))
            return
        except ValueError as exc:  # a 200 answer without a list of models
            self._report_problem(PROBLEM_UNREADABLE, str(exc))
            return
        kie_ids = {m.model for m in models}
        ours = {i for e in self._checked_entries() for i in listed_ids(e)}
        missing = ours - kie_ids
        if ours and (not kie_ids or len(missing) > len(ours) * MAX_MISSING_SHARE):
            self._report_problem(
                PROBLEM_INCOMPLETE, f"the list lacks {len(missing)} of our {len(ours)} model ids"
            )
            return
        self._report_recovered()
        availability = self.catalog.availability
        availability.missing = frozenset(missing)  # the menu changes now, before the slower part
        self.checked_at = time.time()
        self.kie_total = len(kie_ids)
        availability.degraded = await self._degraded(sorted(ours & kie_ids))
        await self._tell_admins(offered_before)

    async def _degraded(self, kie_ids: Sequence[str]) -> frozenset[str]:
        """Ids whose success rate KIE reports as not normal; an unreadable rate keeps the last reading."""
        previous = self.catalog.availability.degraded
        degraded: set[str] = set()
        for kie_id in kie_ids:
            try:
                rate = await self.kie.model_success_rate(kie_id)
            except KieError as exc:
                if self._rate_problems.get(kie_id) != exc.operator_message_key:
                    self._rate_problems[kie_id] = exc.operator_message_key
                    log.warning("KIE success rate of %s cannot be read: %s", kie_id, exc)
                normal = kie_id not in previous
            else:
                self._rate_problems.pop(kie_id, None)
                normal = rate.is_normal is not False  # unknown counts as normal
            if not normal:
                degraded.add(kie_id)
        if degraded != set(previous):
            log.info("KIE reports a not-normal success rate for: %s", ", ".join(sorted(degraded)) or "none")
        return frozenset(degraded)

    async def _tell_admins(self, offered_before: set[str]) -> None:
        after = self._offered_keys()
        availability = self.catalog.availability
        hidden = [
            HiddenModel(e, availability.hidden_reason(e) or "")
            for e in self.catalog.entries
            if e.key in offered_before - after
        ]
        returned = [e for e in self.catalog.entries if e.key in after - offered_before]
        if not hidden and not returned:
            return
        log.warning(
            "Menu changed by KIE's model list: hidden %s; back %s",
            ", ".join(f"{h.entry.key} ({h.reason})" for h in hidden) or "none",
            ", ".join(e.key for e in returned) or "none",
        )
        if self.alerts is not None:
            await self.alerts.models_availability_changed(hidden, returned)

    def _report_problem(self, key: str, detail: str) -> None:
        self.problem = key
        if key != self._logged_problem:
            self._logged_problem = key
            log.warning("KIE's model list cannot be used (%s): nothing more is hidden. %s", key, detail)

    def _report_recovered(self) -> None:
        if self._logged_problem is not None:
            log.info("KIE's model list is readable again")
        self.problem = None
        self._logged_problem = None

    # ------------------------------------------------------------------ reading

    def summary(self) -> CatalogCheckSummary:
        checked = self._checked_entries()
        offered = self._offered_keys()
        availability = self.catalog.availability
        return CatalogCheckSummary(
            checked_at=self.checked_at,
            kie_total=self.kie_total,
            listed=sum(1 for e in checked if any(i not in availability.missing for i in listed_ids(e))),
            hidden=tuple(e for e in self.catalog.entries if e.retired is None and e.key not in offered),
            degraded=tuple(
                e for e in self.catalog.entries if e.key in offered and availability.is_degraded(e)
            ),
            problem=self.problem,
        )
