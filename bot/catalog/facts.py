"""Facts about a model that the category rules (categories.py) and the cards read, beyond its modes
and prices. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Tier(StrEnum):
    """Where a model stands in its line: stated in the entry, read by the category rules.

    LITE: the budget version; FAST: tuned for speed (its name says Fast or Turbo); STANDARD: the
    line's usual version; PRO: a line's higher tier; TOP: the best its maker offers for this line now.
    """

    LITE = "lite"
    FAST = "fast"
    STANDARD = "standard"
    PRO = "pro"
    TOP = "top"


# Higher is better quality (a FAST variant trades quality for speed against its STANDARD sibling).
TIER_RANK: Mapping[Tier, int] = {Tier.LITE: 0, Tier.FAST: 1, Tier.STANDARD: 2, Tier.PRO: 3, Tier.TOP: 4}


class Strength(StrEnum):
    """What a model is known for, where price, speed, ratios and inputs cannot tell (stated in the entry)."""

    CINEMATIC = "cinematic"  # film look and camera work
    STYLE = "style"  # styles and restyling (anime, illustration, colour grading)


class Sound(StrEnum):
    """What the clip sounds like, derived from the entry (see ModelEntry.sound)."""

    NONE = "none"  # silent
    ALWAYS = "always"  # the model makes sound for every clip
    OPTIONAL = "optional"  # a Sound option turns it on (and costs more)
    VOICE = "voice"  # the user's own audio (talking avatars, speech → video)
