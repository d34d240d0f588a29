"""Which catalog entries the menu offers right now: the catalog's static data (a `retired` marker)
combined with what KIE's model list last said (services/catalog_sync.py keeps it current).

Every menu (the wizard's categories and models, /models) reads `Catalog.offered*`, so hiding happens
in one place. Hidden entries stay in the catalog: jobs and history that name them keep working.
Pure data, no I/O; the catalog check replaces the sets in one assignment each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.catalog.model import ModelEntry

# Families whose `kie_model` is the id KIE's model list uses (market jobs and Veo's `model` values).
# Runway, Aleph and Luma have dedicated endpoints with no model field: their `kie_model` is only a
# label, so the list cannot say anything about them (kie-check prints what KIE lists near them).
LISTED_FAMILIES = frozenset({"market", "veo"})

# Shown before a model (or mode) whose success rate KIE reports as not normal.
DEGRADED_MARK = "⚠️"

# Why an entry or mode is not offered.
HIDDEN_RETIRED = "retired"
HIDDEN_BY_OPERATOR = "operator"
HIDDEN_NOT_LISTED = "not_listed"
HIDDEN_DEGRADED = "degraded"


def listed_id(entry: ModelEntry, mode: str) -> str | None:
    """The id KIE's model list should show for this mode; None when the list cannot tell."""
    if entry.family.value not in LISTED_FAMILIES:
        return None
    return entry.modes[mode].kie_model or None


def listed_ids(entry: ModelEntry) -> tuple[str, ...]:
    ids = (listed_id(entry, mode) for mode in entry.modes)
    return tuple(dict.fromkeys(i for i in ids if i))


class Availability:
    """KIE model ids missing from KIE's list, and those whose success rate is not normal."""

    def __init__(self, *, hide_degraded: bool = False) -> None:
        self.missing: frozenset[str] = frozenset()
        self.degraded: frozenset[str] = frozenset()
        self.hide_degraded = hide_degraded
        # Every menu asks offered_modes for every entry it lists (the wizard: dozens per tap); the
        # answer only changes when one of the three fields above is assigned. entry key -> (entry,
        # modes), for the state it was computed in; the entry is kept to tell a new one of that key.
        self._offered: dict[str, tuple[ModelEntry, tuple[str, ...]]] = {}
        self._offered_state: tuple[frozenset[str], frozenset[str], bool] | None = None

    def mode_hidden_reason(self, entry: ModelEntry, mode: str) -> str | None:
        kie_id = listed_id(entry, mode)
        if kie_id is None:
            return None
        if kie_id in self.missing:
            return HIDDEN_NOT_LISTED
        if self.hide_degraded and kie_id in self.degraded:
            return HIDDEN_DEGRADED
        return None

    @property
    def state(self) -> tuple[frozenset[str], frozenset[str], bool]:
        """What every menu answer follows from: values derived from it are kept while it stays equal
        (the same sets compare by identity first, so no scan)."""
        return (self.missing, self.degraded, self.hide_degraded)

    def offered_modes(self, entry: ModelEntry) -> tuple[str, ...]:
        state = self.state
        if state != self._offered_state:  # the same sets: compared by identity, no scan
            self._offered, self._offered_state = {}, state
        known = self._offered.get(entry.key)
        if known is not None and known[0] is entry:
            return known[1]
        modes = self._offered_now(entry)
        self._offered[entry.key] = (entry, modes)
        return modes

    def _offered_now(self, entry: ModelEntry) -> tuple[str, ...]:
        if not entry.orderable:  # retired, or hidden by the operator's overrides
            return ()
        return tuple(m for m in entry.modes if self.mode_hidden_reason(entry, m) is None)

    def is_offered(self, entry: ModelEntry) -> bool:
        return bool(self.offered_modes(entry))

    def hidden_reason(self, entry: ModelEntry) -> str | None:
        """Why `entry` is not offered (the first mode's reason); None when it is offered."""
        if entry.retired is not None:
            return HIDDEN_RETIRED
        if entry.hidden:
            return HIDDEN_BY_OPERATOR
        if self.offered_modes(entry):
            return None
        reasons = [self.mode_hidden_reason(entry, m) for m in entry.modes]
        return HIDDEN_NOT_LISTED if HIDDEN_NOT_LISTED in reasons else HIDDEN_DEGRADED

    def is_degraded(self, entry: ModelEntry, mode: str | None = None) -> bool:
        """True when KIE reports a not-normal success rate for `mode` (or any offered mode)."""
        modes = (mode,) if mode is not None else self.offered_modes(entry)
        return any(listed_id(entry, m) in self.degraded for m in modes if m in entry.modes)
