"""One adapter per KIE endpoint family: builds create/status calls, reads statuses and callbacks."""

from bot.kie.adapters.base import FamilyAdapter, adapter_for

__all__ = ["FamilyAdapter", "adapter_for"]
