"""A user's past jobs, for /history and the wizard's defaults: only ever their own."""

from __future__ import annotations

from bot.store.jobs import Job, JobsRepo, OrderSettings


class JobHistory:
    def __init__(self, jobs: JobsRepo) -> None:
        self.jobs = jobs

    async def recent(self, user_id: int, limit: int) -> list[Job]:
        """The user's latest jobs, newest first."""
        return await self.jobs.recent_for_user(user_id, limit)

    async def own_job(self, user_id: int, job_id: int) -> Job | None:
        """The job if it is this user's; someone else's id looks exactly like a missing one."""
        job = await self.jobs.get(job_id)
        return job if job is not None and job.user_id == user_id else None

    async def last_settings(self, user_id: int) -> list[OrderSettings]:
        """What the user last ordered of each model (mode, ratio, options), newest first."""
        return await self.jobs.last_settings_per_model(user_id)
