"""Composition root: the only module that knows every part. Builds them, wires them, runs them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommandScopeDefault
from aiohttp import web
from yarl import URL

from bot import __version__
from bot.catalog import Catalog
from bot.catalog_overrides import menu_catalog
from bot.config import Settings
from bot.coordination.locks import LocalUserLocks, UserLocks
from bot.coordination.updates import LocalUpdateClaims, UpdateClaims
from bot.i18n import SUPPORTED_LANGUAGES, UserLanguageMiddleware, get_i18n
from bot.kie.client import KieClient
from bot.kie.ratelimit import LimiterFactory, local_limiter
from bot.kie.url_guard import host_port
from bot.services.accounts import AccountsService
from bot.services.admin_reports import AdminReports
from bot.services.alerts import OperatorAlerts
from bot.services.billing import BillingService
from bot.services.catalog_sync import CatalogSync
from bot.services.claims import Holder, default_instance_id
from bot.services.delivery import RUSH_WAIT_MAX_S, DeliveryService
from bot.services.generation import GenerationService
from bot.services.job_history import JobHistory
from bot.services.leadership import Leadership
from bot.services.payment_recorder import PaymentRecorder
from bot.services.ports import SubmissionEvents
from bot.services.referrals import ReferralService
from bot.services.tracker import JobTracker, PollSchedule
from bot.shaping.budget import BudgetLimits, LocalSendBudget, SendWindow
from bot.shaping.scheduler import SendScheduler
from bot.store.db import Database, SqliteDatabase
from bot.store.fsm_storage import DRAFT_KEEP_S, SqliteStorage
from bot.store.jobs import JobsRepo
from bot.store.leases import DbLeaderLock
from bot.store.payments_journal import PaymentsJournal, journal_path_for
from bot.store.referrals import ReferralsRepo
from bot.store.users import UsersRepo
from bot.telegram.admin import make_admin_router
from bot.telegram.alerts import TelegramAdmins
from bot.telegram.balance import make_balance_router
from bot.telegram.common import bot_commands
from bot.telegram.dependencies import HandlerDependencies
from bot.telegram.errors import make_errors_router
from bot.telegram.files import TelegramFiles
from bot.telegram.history import make_history_router
from bot.telegram.http_session import TelegramHttpSession
from bot.telegram.job_actions import make_job_actions_router
from bot.telegram.job_results import TelegramResults
from bot.telegram.job_status import TelegramJobStatus
from bot.telegram.middlewares import (
    CallbackAnswerGuard,
    InFlightUpdates,
    OnceEachUpdate,
    PinnedResponseModels,
    RetryAfterMiddleware,
    UserMiddleware,
)
from bot.telegram.models import make_models_router
from bot.telegram.outgoing import ShapingMiddleware
from bot.telegram.payment_notices import TelegramPaymentNotices
from bot.telegram.payments import make_payments_router
from bot.telegram.paysupport import make_paysupport_router
from bot.telegram.polling import POLLING_LEASE, polling_leadership
from bot.telegram.private_only import PrivateChatsOnly
from bot.telegram.start import make_fallback_router, make_start_router
from bot.telegram.wizard import make_wizard_routers
from bot.web import WEBHOOK_PATH, build_web_app

if TYPE_CHECKING:
    # Loaded only when their setting is used (REDIS_URL, KIE_SANDBOX): a default deployment never
    # pays for redis-py or the KIE simulator in memory (issue 15's RSS target).
    from redis.asyncio import Redis

    from bot.kie.sandbox import SandboxHandle

log = logging.getLogger("bot.app")


def sandbox_host_port(base_url: str) -> str:
    host, port = host_port(URL(base_url))
    return f"{host}:{port}"


# How long shutdown waits for handlers that are already running.
SHUTDOWN_GRACE_S = 25.0


@dataclass
class Components:
    """Everything the process is made of, built once by `build_components`."""

    settings: Settings
    db: Database
    catalog: Catalog
    accounts: AccountsService
    billing: BillingService
    jobs: JobsRepo
    kie: KieClient
    generation: GenerationService
    tracker: JobTracker
    payment_recorder: PaymentRecorder
    catalog_sync: CatalogSync
    admin_reports: AdminReports
    job_history: JobHistory
    referrals: ReferralService
    bot: Bot
    dispatcher: Dispatcher
    inflight: InFlightUpdates
    send_scheduler: SendScheduler
    sandbox: SandboxHandle | None = None
    closers: list[Any] = field(default_factory=list)
    # REDIS_URL: the shared client and the Redis implementations; otherwise in-process ones.
    redis: Redis | None = None
    user_locks: UserLocks = field(default_factory=LocalUserLocks)
    update_claims: UpdateClaims = field(default_factory=LocalUpdateClaims)
    # This instance's name and lease time on shared work (services/claims.py).
    instance: Holder = field(default_factory=Holder)
    # Long-polling mode: who polls Telegram among the instances (set by `run`).
    leadership: Leadership | None = None

    def dependencies(self) -> HandlerDependencies:
        """What handlers may ask for by name (aiogram dependency injection)."""
        return HandlerDependencies(
            settings=self.settings,
            catalog=self.catalog,
            accounts=self.accounts,
            billing=self.billing,
            generation=self.generation,
            tracker=self.tracker,
            payment_recorder=self.payment_recorder,
            catalog_sync=self.catalog_sync,
            admin_reports=self.admin_reports,
            job_history=self.job_history,
            referrals=self.referrals,
        )


def create_send_scheduler(settings: Settings, redis: Redis | None = None) -> SendScheduler:
    """The pace of everything the bot sends to Telegram (see bot/telegram/outgoing.py).

    Telegram's limits are per bot, whichever process sends: with REDIS_URL every instance takes from
    one budget in Redis (bot/shaping/redis_budget.py); otherwise the budget is this process's own.
    """
    limits = BudgetLimits(
        per_s=settings.telegram_max_messages_per_s, per_chat_per_s=settings.telegram_max_per_chat_per_s
    )
    # Sends count until answered too, so slow uploads never bunch up at Telegram (budget.py).
    window = SendWindow(limits.window_limit)
    if redis is not None:
        from bot.shaping.redis_budget import RedisSendBudget

        bot_id = int(settings.bot_token.get_secret_value().split(":", 1)[0])
        return SendScheduler(
            RedisSendBudget(redis, bot_id, limits, key_prefix=f"{settings.redis_key_prefix}:send"),
            window=window,
        )
    return SendScheduler(LocalSendBudget(limits), window=window)


def create_bot(
    settings: Settings, session: BaseSession | None = None, scheduler: SendScheduler | None = None
) -> Bot:
    """The bot; `session` (tests) replaces the HTTP session to Telegram; `scheduler` paces its sends."""
    if session is None and settings.telegram_api_base:
        session = TelegramHttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    elif session is None:
        session = TelegramHttpSession()
    session.middleware(PinnedResponseModels())
    # Outermost first: a 429 is waited out and the call sent again through the queue.
    session.middleware(RetryAfterMiddleware(max_wait=settings.telegram_flood_wait_max_s))
    session.middleware(ShapingMiddleware(scheduler or create_send_scheduler(settings)))
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(components: Components) -> Dispatcher:
    dp = components.dispatcher
    # Counted from its first step, so shutdown waits for an update whose state is still being read.
    dp.update.outer_middleware(components.inflight)
    # A second delivery of an update (a webhook retry, another instance) stops here.
    dp.update.outer_middleware(OnceEachUpdate(components.update_claims))
    # aiogram's FSM middleware (the Dispatcher is made with disable_fsm=True so it comes here, after
    # the two above): it reads the user's state, a round trip to Redis with REDIS_URL.
    dp.update.outer_middleware(dp.fsm)
    # Before the user middleware: group chatter, channel posts and bots never register anyone.
    dp.update.outer_middleware(PrivateChatsOnly(components.accounts))
    user_middleware = UserMiddleware(components.accounts)
    i18n_middleware = UserLanguageMiddleware(get_i18n())
    for observer in (dp.message, dp.callback_query, dp.pre_checkout_query):
        observer.outer_middleware(user_middleware)
        observer.outer_middleware(i18n_middleware)
    dp.callback_query.outer_middleware(CallbackAnswerGuard())
    wizard_buttons, wizard = make_wizard_routers(components.user_locks)
    dp.include_routers(
        make_errors_router(),
        # The busiest updates first (see make_wizard_routers); its callback data matches no other router.
        wizard_buttons,
        make_start_router(),
        # Payments, balance and admin come before the wizard: its "any message while a draft is
        # open" handler would otherwise swallow /buy, /balance and, worse, the successful_payment
        # of a user who tapped "Buy" on the wizard's not-enough-credits summary.
        make_payments_router(),
        make_paysupport_router(),
        make_balance_router(),
        # Filtered on ADMIN_IDS: for anyone else it matches nothing and the fallback answers.
        make_admin_router(components.settings.admin_ids),
        make_history_router(components.catalog),
        make_job_actions_router(components.catalog),
        make_models_router(),
        wizard,
        make_fallback_router(),
    )
    return dp


def redis_prefix(settings: Settings) -> str:
    """`<REDIS_KEY_PREFIX>:<bot id>`: how every Redis key of this bot starts (KIE's limits aside)."""
    bot_id = settings.bot_token.get_secret_value().split(":", 1)[0]
    return f"{settings.redis_key_prefix}:{bot_id}"


async def create_fsm_storage(settings: Settings, db: Database, redis: Redis | None = None) -> BaseStorage:
    """The one place that decides where open wizards (FSM state and data) are kept.

    With REDIS_URL: aiogram's RedisStorage, shared by every instance (keys `<prefix>:<bot id>:fsm:…`).
    Otherwise the bot's database; on PostgreSQL (several processes may share the database) it is
    written through and not cached. Either way a restart keeps every open menu working; drafts nobody
    touched for 7 days are dropped.
    """
    if redis is not None:
        from bot.coordination.fsm import SharedRedisStorage

        return SharedRedisStorage(redis, f"{redis_prefix(settings)}:fsm", ttl_s=DRAFT_KEEP_S)
    storage = SqliteStorage(db, shared=db.dialect.name != "sqlite")
    await storage.purge_expired()
    return storage


def create_database(settings: Settings) -> Database:
    """PostgreSQL when DATABASE_URL is set, else the SQLite file at DATABASE_PATH."""
    if settings.database_url is not None:
        # Imported here: a SQLite deployment never loads psycopg.
        from bot.store.postgres import PostgresDatabase

        return PostgresDatabase(
            settings.database_url.get_secret_value(), pool_size=settings.database_pool_size
        )
    return SqliteDatabase(settings.database_path, busy_timeout_ms=settings.database_busy_timeout_ms)


async def build_components(settings: Settings, *, session: BaseSession | None = None) -> Components:
    """Every part, wired, without taking updates: `run` starts polling or the webhook.

    `session` (in-process tests) is the Bot's session instead of HTTP to Telegram."""
    db = create_database(settings)
    await db.open()
    instance = Holder(
        settings.instance_id or default_instance_id(settings.web_port), settings.instance_lease_seconds
    )
    closers: list[Any] = []
    try:
        redis: Redis | None = None
        user_locks: UserLocks = LocalUserLocks()
        update_claims: UpdateClaims = LocalUpdateClaims()
        limiters: LimiterFactory = local_limiter
        if settings.redis_url is not None:
            from bot.coordination.connection import connect_redis
            from bot.coordination.locks import RedisUserLocks
            from bot.coordination.updates import RedisUpdateClaims
            from bot.kie.ratelimit_redis import RedisLimiters

            # One client for all of it; closed last (the first closer).
            redis = await connect_redis(settings.redis_url.get_secret_value())
            closers.append(redis.aclose)
            user_locks = RedisUserLocks(redis, redis_prefix(settings))
            update_claims = RedisUpdateClaims(redis, redis_prefix(settings))
            # KIE's limits are per KIE account, whichever bot uses it: not under the bot id.
            limiters = RedisLimiters(redis, f"{settings.redis_key_prefix}:kie")
            log.info("REDIS_URL set: wizards, per-user locks, update ids and KIE limits shared in Redis")
        sandbox: SandboxHandle | None = None
        if settings.kie_sandbox:
            from bot.kie.sandbox import start_sandbox

            hmac_key = (
                settings.kie_webhook_hmac_key.get_secret_value() if settings.kie_webhook_hmac_key else None
            )
            sandbox = await start_sandbox(hmac_key=hmac_key)
            closers.append(sandbox.stop)
            kie = KieClient.from_settings(
                settings,
                api_key=sandbox.api_key,
                api_base=sandbox.api_base,
                upload_base=sandbox.upload_base,
                # Exactly the simulator's host:port serves results on 127.0.0.1, nothing else there.
                fetch_allow=(sandbox_host_port(sandbox.api_base),),
                limiters=limiters,
            )
            log.warning("KIE_SANDBOX=true: generations go to the built-in KIE simulator, not to KIE")
        else:
            kie = KieClient.from_settings(settings, limiters=limiters)
        closers.append(kie.aclose)

        catalog = menu_catalog(settings, settings.catalog_overrides_file)
        fsm_storage = await create_fsm_storage(settings, db, redis)
        users = UsersRepo(db)
        send_scheduler = create_send_scheduler(settings, redis)
        # Closed last (closers run in reverse): whatever is still queued then goes out unpaced.
        closers.append(send_scheduler.close)
        bot = create_bot(settings, session, send_scheduler)
        alerts = OperatorAlerts(TelegramAdmins(bot, users, settings.admin_ids))
        billing = BillingService.from_settings(db, settings, alerts=alerts)
        accounts = AccountsService(users, on_new_user=billing.welcome_new_user)
        referrals = ReferralService(ReferralsRepo(db), bonus=settings.referral_bonus_credits)
        jobs = JobsRepo(db)
        payment_recorder = PaymentRecorder(
            billing,
            PaymentsJournal(journal_path_for(settings.database_path)),
            notices=TelegramPaymentNotices(bot, users),
        )
        catalog_sync = CatalogSync(
            kie,
            catalog,
            interval_s=settings.kie_models_check_hours * 3600,
            hide_degraded=settings.kie_hide_degraded_models,
            alerts=alerts,
        )
        delivery = DeliveryService(
            sender=TelegramResults(bot, users, catalog),
            kie=kie,
            upload_limit_bytes=settings.upload_limit_bytes,
            max_result_bytes=settings.max_result_mb * 1024 * 1024,
            rush_wait_max_s=RUSH_WAIT_MAX_S * settings.kie_poll_scale,
            max_parallel=settings.delivery_parallel,
        )
        closers.append(delivery.close)

        def make_generation(events: SubmissionEvents) -> GenerationService:
            return GenerationService(
                db=db,
                jobs=jobs,
                catalog=catalog,
                billing=billing,
                kie=kie,
                files=TelegramFiles(bot),
                events=events,
                alerts=alerts,
                public_url=settings.public_url,
                job_timeout_s=settings.job_timeout_minutes * 60,
                max_jobs_in_flight=settings.max_jobs_in_flight,
                instance=instance,
            )

        status_view = TelegramJobStatus(
            bot, users, jobs, catalog, refresh_s=settings.status_refresh_seconds
        )
        closers.append(status_view.close)
        tracker = JobTracker(
            jobs=jobs,
            billing=billing,
            kie=kie,
            catalog=catalog,
            make_generation=make_generation,
            delivery=delivery,
            status=status_view,
            schedule=PollSchedule(
                callbacks=bool(settings.public_url),
                scale=settings.kie_poll_scale,
                # Under the "task" scope every task has a budget of its own: nothing shared to spread.
                status_rps=settings.kie_status_rps if settings.kie_status_limit_scope == "key" else None,
            ),
            hmac_key=settings.kie_webhook_hmac_key.get_secret_value()
            if settings.kie_webhook_hmac_key
            else None,
            instance=instance,
        )
        generation = tracker.generation
    except BaseException:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                await closer()
        await db.close()
        raise
    components = Components(
        settings=settings,
        db=db,
        catalog=catalog,
        accounts=accounts,
        billing=billing,
        jobs=jobs,
        kie=kie,
        generation=generation,
        tracker=tracker,
        payment_recorder=payment_recorder,
        catalog_sync=catalog_sync,
        admin_reports=AdminReports(billing=billing, accounts=accounts, jobs=jobs, kie=kie),
        job_history=JobHistory(jobs),
        referrals=referrals,
        bot=bot,
        dispatcher=Dispatcher(storage=fsm_storage, disable_fsm=True),
        inflight=InFlightUpdates(),
        send_scheduler=send_scheduler,
        sandbox=sandbox,
        closers=closers,
        redis=redis,
        user_locks=user_locks,
        update_claims=update_claims,
        instance=instance,
    )
    components.dispatcher.workflow_data.update(components.dependencies())
    create_dispatcher(components)
    return components


async def set_commands(bot: Bot) -> None:
    await bot.set_my_commands(bot_commands("en"), scope=BotCommandScopeDefault())
    for language in SUPPORTED_LANGUAGES:
        await bot.set_my_commands(
            bot_commands(language), scope=BotCommandScopeDefault(), language_code=language
        )


async def run(
    settings: Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Future[Components] | None = None,
    *,
    freeze_heap: bool = False,
) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT), then shut down cleanly.

    `ready` (tests) receives the components once the bot takes updates. `freeze_heap` (`python -m
    bot`; not tests, which start many bots in one process): see freeze_startup_heap.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    try:
        components = await build_components(settings)
    except BaseException as exc:
        if ready is not None and not ready.done():
            ready.set_exception(exc)
        raise
    bot, dp = components.bot, components.dispatcher
    runner: web.AppRunner | None = None
    polling: asyncio.Task[None] | None = None
    try:
        app = build_web_app(components)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        log.info("Web server on %s:%s (version %s)", settings.web_host, settings.web_port, __version__)

        # Payments a busy database could not take last time are credited before any update.
        await components.payment_recorder.start()
        await set_commands(bot)
        await components.tracker.start()
        # In the background: the menu is usable at once and narrows when KIE's list says so.
        await components.catalog_sync.start()
        allowed_updates = dp.resolve_used_update_types()
        if settings.telegram_webhook:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            # drop_pending_updates stays False: updates that arrive while we restart are kept.
            await bot.set_webhook(
                f"{settings.public_url}{WEBHOOK_PATH}",
                secret_token=secret,
                allowed_updates=allowed_updates,
                drop_pending_updates=False,
            )
            log.info("Webhook mode: Telegram pushes updates to PUBLIC_URL%s", WEBHOOK_PATH)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            # Of several instances only the lease holder polls (Telegram refuses a second poller).
            components.leadership = polling_leadership(
                dp,
                bot,
                DbLeaderLock(components.db, POLLING_LEASE, components.instance.instance_id),
                ttl_s=components.instance.lease_s,
                allowed_updates=allowed_updates,
                polling_timeout=settings_polling_timeout(settings),
            )
            polling = asyncio.create_task(components.leadership.run(), name="telegram-polling")
            log.info("Polling mode (instance %s)", components.instance.instance_id)
        if freeze_heap:
            freeze_startup_heap()
        if ready is not None and not ready.done():
            ready.set_result(components)
        stop_waiter = asyncio.create_task(stop.wait())
        waiters: set[asyncio.Task[Any]] = {stop_waiter}
        if polling is not None:
            waiters.add(polling)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        log.info("Shutting down: no new updates, finishing %d running handlers", components.inflight.count)
    finally:
        await shutdown(components, runner, polling)


def freeze_startup_heap() -> None:
    """Leave what the start built (aiogram's and pydantic's ~200,000 objects, the catalog, the
    routers) out of the garbage collector's full passes: each pass walked all of it, a 100-200 ms
    stall of the event loop every few seconds under load (bench/bench_jobs.py, a burst of 100
    deliveries saw two). They live as long as the process, so nothing is lost; garbage made before
    is collected first, and objects made later are collected as usual."""
    gc.collect()
    gc.freeze()
    log.info("Start-up heap frozen: %d objects out of the collector's full passes", gc.get_freeze_count())


def settings_polling_timeout(settings: Settings) -> int:
    # A short long-poll against a test server keeps shutdown fast; Telegram itself gets 30 s.
    return 1 if settings.telegram_api_base and "127.0.0.1" in settings.telegram_api_base else 30


async def shutdown(
    components: Components, runner: web.AppRunner | None, polling: asyncio.Task[None] | None
) -> None:
    dp, bot = components.dispatcher, components.bot
    leading = components.leadership is not None and components.leadership.leading
    if polling is not None and not polling.done():
        if components.leadership is not None:
            components.leadership.stop()  # stops polling and gives the lease up
        with contextlib.suppress(Exception):
            await polling
    if not await components.inflight.wait_idle(SHUTDOWN_GRACE_S):
        log.warning(
            "Shutdown: %d handlers still running after %s s", components.inflight.count, SHUTDOWN_GRACE_S
        )
    await components.catalog_sync.stop()
    await components.tracker.stop()
    await components.payment_recorder.stop()
    if leading and components.inflight.last_update_id is not None:
        # Confirm what we handled, so a restart does not replay it. Updates this call returns are
        # not confirmed by it, so nothing new is lost.
        with contextlib.suppress(Exception):
            await bot.get_updates(offset=components.inflight.last_update_id + 1, limit=1, timeout=0)
    for closer in reversed(components.closers):
        with contextlib.suppress(Exception):
            await closer()
    if runner is not None:
        await runner.cleanup()
    await bot.session.close()
    # Again after the handlers finished (the dispatcher closed it when polling stopped): the
    # storage writes behind, and what is pending must reach the database before it closes.
    await dp.storage.close()
    await components.db.close()
    log.info("Stopped")
