"""The KIE.ai simulator (tests and sandbox mode) and the in-process sandbox entry point."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bot.kie.sandbox.faults import EndpointFault, FaultPlan, TaskFaults
from bot.kie.sandbox.simulator import CallbackAttempt, KieSimulator, RecordedRequest, SimTask, SimTimings


@dataclass
class SandboxHandle:
    """What the bot needs to talk to an in-process simulator instead of KIE."""

    api_base: str
    upload_base: str
    api_key: str
    simulator: KieSimulator

    async def stop(self) -> None:
        await self.simulator.stop()


async def start_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    hmac_key: str | None = None,
    balance: int = 1_000_000,
    timings: SimTimings | None = None,
) -> SandboxHandle:
    """Run the simulator inside the bot's event loop (KIE_SANDBOX=true): no money is spent.

    The simulator serves both the API and the upload routes, so KIE_API_BASE and KIE_UPLOAD_BASE
    both point at it. Prompt markers such as "[sim:fail]" work here too (see faults.py).
    """
    simulator = KieSimulator(
        api_key or f"sandbox-{secrets.token_urlsafe(16)}",
        balance=balance,
        hmac_key=hmac_key,
        timings=timings or SimTimings.sandbox(),
    )
    base_url = await simulator.start(host, port)
    return SandboxHandle(
        api_base=base_url, upload_base=base_url, api_key=simulator.api_key, simulator=simulator
    )


__all__ = [
    "CallbackAttempt",
    "EndpointFault",
    "FaultPlan",
    "KieSimulator",
    "RecordedRequest",
    "SandboxHandle",
    "SimTask",
    "SimTimings",
    "TaskFaults",
    "start_sandbox",
]
