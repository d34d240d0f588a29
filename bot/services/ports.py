"""What the services need from the outside world, as small protocols (the Telegram layer implements them).

The services decide (what to say, in what order, when to retry, when to give up); the ports only
carry it out and report outcomes in the services' own terms: a job status, a `SendFailure`
subclass, never an aiogram type or a localized text. Tests drive the services with fakes of these
protocols instead of a Bot.

Implementations: bot/telegram/job_status.py (JobStatusView), bot/telegram/job_results.py
(ResultSender), bot/telegram/alerts.py (AdminMessenger), bot/telegram/payment_notices.py
(PaymentNotices), bot/telegram/files.py (FileSource);
bot/services/tracker.py implements SubmissionEvents, bot/services/alerts.py KieAlerts and
UnsoldPaymentAlerts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.catalog.model import ModelEntry
    from bot.services.billing import PaymentOutcome
    from bot.services.catalog_sync import HiddenModel
    from bot.services.media import VideoInfo
    from bot.store.jobs import Job
    from bot.store.payments import PaymentRow
    from bot.store.payments_journal import JournaledPayment


# --- a job's status message -----------------------------------------------------------------------


class JobStatus(StrEnum):
    """What a job's status message says. Only the two progress statuses and the place in line may be
    dropped by the view's edit throttle (the latest one shows soon after); every other one is an end
    or a turning point and always shows."""

    IN_LINE = "in-line"  # confirmed, waiting for a free slot in KIE's create limit; with a position
    QUEUED = "queued"
    GENERATING = "generating"  # running, KIE reports no percentage
    PROGRESS = "progress"  # running, with a percentage
    TIMED_OUT = "timed-out"  # refunded (job.cost)
    FAILED = "failed"  # refunded (job.cost); the reason is job.fail_reason
    SENDING = "sending"
    DELIVERY_FAILED = "delivery-failed"  # the first attempt failed; retrying
    DONE = "done"
    UNDELIVERED_REFUNDED = "undelivered-refunded"  # refunded (job.cost)

    @property
    def is_progress(self) -> bool:
        return self in (JobStatus.IN_LINE, JobStatus.GENERATING, JobStatus.PROGRESS)


class JobStatusView(Protocol):
    """The job's one status message, edited as the job moves. Never raises.

    One job's statuses land in the order `show_status` was called, even when an earlier call has not
    returned yet (it may be superseded instead: the newer status is what the message shows)."""

    async def show_status(
        self,
        job: Job,
        status: JobStatus,
        *,
        progress: int | None = None,
        elapsed_s: float | None = None,
        position: int | None = None,  # IN_LINE: 1 is next
    ) -> None: ...


# --- sending a finished video -----------------------------------------------------------------------


class SendFailure(Exception):
    """A send the chat did not take. Subclasses say why; the message is the platform's own."""


class ChatGone(SendFailure):
    """The user blocked the bot or the chat no longer exists: nothing will ever arrive there."""


class TooLarge(SendFailure):
    """The file is over the platform's upload limit."""


class Refused(SendFailure):
    """The platform refused this send (a bad file, a bad request); another form may still work."""


class TransientSendFailure(SendFailure):
    """The platform failed for reasons unrelated to the file or the chat (5xx, network, flood wait
    longer than the call waits): the same send may work later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class VideoFile:
    """A video ready to send: the file, what ffprobe learnt of it (None: unknown), a thumbnail."""

    path: Path
    info: VideoInfo | None = None
    thumbnail: Path | None = None
    # Awaited before a "sending video" action is shown: lets the other videos of a burst go first.
    calm: Callable[[], Awaitable[None]] | None = None
    size_bytes: int | None = None  # of `path`, when known


class ResultSender(Protocol):
    """Puts a finished job's result into its chat (captioned with the model and the prompt).

    Each method raises a `SendFailure` subclass when the chat did not take it; video and document
    return the platform's file id of what was sent (None if it gave none).
    """

    async def send_video(self, job: Job, video: VideoFile) -> str | None: ...

    async def send_document(self, job: Job, video: VideoFile) -> str | None: ...

    async def send_link(self, job: Job, url: str) -> None: ...


# --- user files -------------------------------------------------------------------------------------


class FileSource(Protocol):
    """Where user files come from (the Telegram layer: bot.download by file_id, so the file URL,
    which carries the bot token, never leaves the process)."""

    async def read(self, file_id: str) -> bytes: ...


# --- generation → tracker ---------------------------------------------------------------------------


class SubmissionEvents(Protocol):
    """What the generation service reports about a submission (the tracker listens)."""

    async def submitted(self, job: Job) -> None:
        """The KIE task exists (the job is submitted, or a fast callback already finished it)."""

    async def submission_failed(self, job: Job) -> None:
        """The job failed before KIE took it and was refunded."""

    async def waiting_in_line(self, job: Job, position: int) -> None:
        """The create call waits for a free slot in KIE's create limit: `position` in line (1: next)."""


# --- the operator -----------------------------------------------------------------------------------


class KieAlerts(Protocol):
    """Problems with KIE only the operator can fix (the generation service reports them)."""

    async def kie_problem(self, operator_key: str, detail: str = "") -> None: ...

    async def possible_orphans(self, jobs: Sequence[Job]) -> None: ...


class UnsoldPaymentAlerts(Protocol):
    """A Stars payment recorded with 0 credits (billing reports it once per charge id)."""

    async def unsold_payment(self, payment: PaymentRow) -> None: ...


class AdminMessenger(Protocol):
    """Messages to every admin (ADMIN_IDS), each in their own language. Best effort: never raises.

    Called by bot/services/alerts.py, which decides what is worth a message and how often."""

    async def kie_problem(self, operator_key: str) -> None: ...

    async def unsold_payment(self, payment: PaymentRow) -> None: ...

    async def possible_orphans(self, jobs: Sequence[Job]) -> None: ...

    async def models_availability_changed(
        self, hidden: Sequence[HiddenModel], returned: Sequence[ModelEntry]
    ) -> None: ...


# --- payments ---------------------------------------------------------------------------------------


class PaymentNotices(Protocol):
    """Tells a user about their payment outside the update that carried it."""

    async def journaled_payment_applied(self, entry: JournaledPayment, outcome: PaymentOutcome) -> None:
        """A payment that waited in the journal is now recorded (credited, or found unsold)."""
