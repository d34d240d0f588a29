"""Texts shared by a job's status message (job_status.py) and its result (job_results.py)."""

from __future__ import annotations

from bot.catalog.model import Catalog
from bot.i18n import language_of, translate
from bot.kie.errors import classify_failure
from bot.store.jobs import Job
from bot.store.users import UsersRepo
from bot.text import escape, shorten

# Reasons whose text would otherwise blame the prompt: KIE's own words decide what kind of failure
# it was (bot/kie/errors.py classify_failure), so server trouble never reads "rephrase the prompt".
CLASSIFIED_REASONS = frozenset({"kie_content_rejected", "kie_generation_failed", "kie_server_error"})


def failure_text(job: Job, lang: str) -> str:
    """The failure reason in the user's words.

    `fail_reason` is "<key>" or "<key>: <KIE's own message>" (submission errors), or KIE's free text
    for a failed generation (with its code in `fail_code`). KIE's message is added for settings it
    refused, so the user knows what to change.
    """
    reason = job.fail_reason or ""
    key, _sep, detail = reason.partition(": ")
    if key.startswith("invalid_"):
        key = "kie_rejected_request"
    text = translate(f"fail-{key}", lang)
    if key in CLASSIFIED_REASONS or text == f"fail-{key}":
        # A known key carries KIE's message after it; an unknown one is KIE's message itself.
        message = detail if key in CLASSIFIED_REASONS else reason
        # A createTask 400 says no more than "refused"; the classifier reads that code as content.
        code = "400" if key == "kie_content_rejected" and job.fail_code is None else job.fail_code
        kind = classify_failure(code, message)
        return translate(f"fail-kind-{kind.value}", lang)
    if key == "kie_rejected_request" and detail:
        text = f"{text} ({escape(shorten(detail, 200))})"
    return text


class JobTexts:
    def __init__(self, users: UsersRepo, catalog: Catalog) -> None:
        self.users = users
        self.catalog = catalog

    async def language(self, user_id: int) -> str:
        return await self.users.language(user_id) or language_of(None)

    def model_name(self, job: Job, lang: str) -> str:
        entry = self.catalog.get(job.model_key)
        return entry.name(lang) if entry else job.model_key
