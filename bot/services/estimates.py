"""How long an order usually takes: from this bot's own recent finished jobs of the same model.

The status message shows it ("usually 1–2 min") while the job waits; KIE publishes no queue times
and reports no progress for most models, so the bot's own history is the best guess there is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.store.jobs import JobsRepo

# Finished jobs looked at per model, and how many are enough to trust them over the prior.
RECENT_JOBS = 20
MIN_SAMPLES = 3
# Without history, a modest guess: the video models sold here mostly take one to three minutes.
PRIOR_LOW_S = 60.0
PRIOR_HIGH_S = 180.0


@dataclass(frozen=True)
class DurationEstimate:
    """The usual time from order to video, as whole minutes (low ≤ high, low ≥ 1 unless both are 1)."""

    low_min: int
    high_min: int
    from_history: bool


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of an ascending, non-empty sequence."""
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def estimate_from(durations_s: Sequence[float]) -> DurationEstimate:
    """The middle half of the recent durations, in minutes; the prior with too few of them."""
    if len(durations_s) < MIN_SAMPLES:
        low_s, high_s, from_history = PRIOR_LOW_S, PRIOR_HIGH_S, False
    else:
        ordered = sorted(durations_s)
        low_s, high_s, from_history = _quantile(ordered, 0.25), _quantile(ordered, 0.75), True
    low = max(1, math.floor(low_s / 60))
    high = max(low, math.ceil(high_s / 60))
    return DurationEstimate(low, high, from_history)


async def usual_duration(jobs: JobsRepo, model_key: str) -> DurationEstimate:
    return estimate_from(await jobs.recent_durations(model_key, RECENT_JOBS))
