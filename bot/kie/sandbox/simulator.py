"""KIE.ai simulator: an aiohttp app that answers like api.kie.ai and kieai.redpandaai.co.

Used by the tests (over real HTTP on 127.0.0.1) and by sandbox mode (KIE_SANDBOX=true), so the bot
can be tried without spending money. Shapes follow /work/shared/kie-api.md; validation uses the
simulator's own rule table (rules.py), independent of the bot's catalog.

Task life: created → (wait) → (queue) → generating → success | fail, driven by one asyncio task per
job with the durations in `SimTimings`. Tests can also finish tasks on demand with
`sim.complete(task_id)` / `sim.fail(task_id, code, msg)` (use `SimTimings.manual()` to disable the
automatic finish).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.kie.sandbox.faults import GARBLED_BODIES, EndpointFault, FaultPlan, TaskFaults
from bot.kie.sandbox.model_list import SimModelList
from bot.kie.sandbox.rules import (
    FAMILIES,
    MediaChoice,
    ModelRule,
    RuleViolation,
    collect_urls,
    validate_aleph,
    validate_market,
    validate_modify,
    validate_runway,
    validate_veo,
)
from bot.kie.webhook_auth import signature_headers

log = logging.getLogger(__name__)

MEDIA_DIR = Path(__file__).with_name("media")
# A 16x16 grey JPEG, served as Runway/Aleph cover images (made once with ffmpeg).
COVER_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAg+Pkk+SVVVVVVVVWRdZGhoaGRkZGRoaGhwcHCDg4Nw"
    "cHBoaHBwfHyDg4+Tj4eHg4eTk5ubm7q6srLZ2eD/////xABKAAEAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAEAEA"
    "AAAAAAAAAAAAAAAAAAAAEQEAAAAAAAAAAAAAAAAAAAAA/8AAEQgAEAAQAwEiAAIRAAMRAP/aAAwDAQACEQMRAD8AAA//2Q=="
)
_TELEGRAM_LEAK_RE = re.compile(r"api\.telegram\.org|bot\d{3,}:[A-Za-z0-9_-]{20,}|\b\d{6,}:[A-Za-z0-9_-]{30,}")
_LARGE_CHUNK = 256 * 1024
UNAUTHORIZED_MSG = "You do not have access permissions"
# KIE deletes uploaded files 24 h after the upload (kie-api-2026.md §1.2 item 1).
UPLOAD_TTL_S = 24 * 3600.0


@dataclass
class SimTimings:
    """Durations of each phase and of callback behaviour. Defaults: realistic shape, test speed."""

    wait_s: float = 0.02
    queue_s: float = 0.03
    generate_s: float = 0.15
    visible_after_s: float = 0.0          # status answers "recordInfo is null" this long after create
    auto_complete: bool = True            # False: tasks stay "generating" until complete()/fail()
    callback_timeout_s: float = 15.0
    callback_retries: int = 3             # retries after a failed delivery (so up to 4 POSTs)
    callback_retry_delay_s: float = 0.05
    download_link_ttl_s: float = 20 * 60  # links minted by /common/download-url
    result_ttl_s: float | None = None     # result URLs expire this long after success (None: never)

    @classmethod
    def manual(cls) -> SimTimings:
        return cls(auto_complete=False)

    @classmethod
    def instant(cls) -> SimTimings:
        return cls(wait_s=0.0, queue_s=0.0, generate_s=0.0)

    @classmethod
    def sandbox(cls) -> SimTimings:
        """Sandbox mode for a human: long enough to watch the progress, short enough not to bore."""
        return cls(wait_s=1.0, queue_s=2.0, generate_s=8.0, callback_retry_delay_s=5.0,
                   result_ttl_s=24 * 3600)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    body_size: int = 0
    at: float = 0.0

    def text_for_leak_scan(self) -> str:
        return " ".join([
            self.path, json.dumps(self.query), json.dumps(self.headers),
            json.dumps(self.json, ensure_ascii=False, default=str), json.dumps(self.form),
        ])


_RECORD_KEY = web.RequestKey("sim_record", RecordedRequest)


@dataclass
class CallbackAttempt:
    task_id: str
    url: str
    attempt: int          # 1-based within one delivery
    delivery: int         # 1 normally, 2 for the duplicate of a double-callback fault
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None
    error: str | None
    at: float

    @property
    def delivered(self) -> bool:
        return self.status == 200


@dataclass
class StoredFile:
    data: bytes
    mime_type: str
    uploaded_at: float


@dataclass
class SimTask:
    task_id: str
    family: str
    model: str
    body: dict[str, Any]
    price: int
    media: MediaChoice
    rule: ModelRule | None
    faults: TaskFaults
    callback_url: str | None
    created_mono: float
    created_wall: float
    outcome: str | None = None       # None while running, then "success" | "fail"
    finished_wall: float | None = None
    finished_mono: float | None = None
    fail_code: int | None = None
    fail_msg: str = ""
    fail_flag: int | None = None     # Veo/Luma successFlag for a failure (2 or 3)
    callback_failed: bool = False    # every callback attempt failed (Luma successFlag 4)
    driver: asyncio.Task[None] | None = None

    @property
    def prompt(self) -> str:
        source = self.body.get("input") if self.family == "market" else self.body
        value = source.get("prompt") if isinstance(source, dict) else None
        return value if isinstance(value, str) else ""


def _envelope(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def _ms(wall: float | None) -> int | None:
    return None if wall is None else int(wall * 1000)


def _clock_text(wall: float | None) -> str | None:
    return None if wall is None else datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(wall: float | None) -> str | None:
    return None if wall is None else datetime.fromtimestamp(wall, UTC).isoformat().replace("+00:00", "Z")


class KieSimulator:
    """See the module doc. Public state for assertions: `requests`, `tasks`, `callbacks`, `files`,
    `balance`, `faults`."""

    def __init__(
        self,
        api_key: str = "sim-kie-key",
        *,
        balance: int | Decimal = 1_000_000,
        timings: SimTimings | None = None,
        hmac_key: str | None = None,
        create_limit: int = 20,
        create_window_s: float = 10.0,
        status_limit_per_s: float | None = 10.0,
        discovery_limit_per_s: float | None = 1.0,
        mirror_http_status: Iterable[int] = (),
        strict: bool = True,
        require_uploaded_inputs: bool = False,
        upload_ttl_s: float = UPLOAD_TTL_S,
    ) -> None:
        self.api_key = api_key
        self.balance = balance
        self.timings = timings or SimTimings()
        self.hmac_key = hmac_key
        self.create_limit = create_limit
        self.create_window_s = create_window_s
        self.status_limit_per_s = status_limit_per_s
        # KIE: the four model-discovery calls share 1 request/s per account (kie-api-2026.md §1.4).
        self.discovery_limit_per_s = discovery_limit_per_s
        self.model_list = SimModelList()
        self.mirror_http_status = frozenset(mirror_http_status)
        self.strict = strict
        self.require_uploaded_inputs = require_uploaded_inputs
        self.upload_ttl_s = upload_ttl_s
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self.tasks: dict[str, SimTask] = {}
        self.callbacks: list[CallbackAttempt] = []
        self.files: dict[str, StoredFile] = {}
        self.rate_limited: dict[str, int] = {"create": 0, "status": 0, "discovery": 0}
        self._create_times: deque[float] = deque()
        self._status_times: deque[float] = deque()
        self._discovery_times: deque[float] = deque()
        self._download_links: dict[str, tuple[str, float]] = {}  # token -> (target path, expires mono)
        self._background: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._mount_prefix = ""
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator not started (call start() or mount())")
        return self._base_url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # handler_cancellation: a "hang" fault must not outlive the client that gave up on it.
        self._runner = web.AppRunner(self.app, handler_cancellation=True, shutdown_timeout=0.5,
                                     access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = self._runner.addresses
        bound_port = sockets[0][1] if sockets else port
        self._base_url = f"http://{host}:{bound_port}"
        return self._base_url

    def mount(self, parent: web.Application, prefix: str, public_base: str | None = None) -> None:
        """Serve the simulator inside another aiohttp app under `prefix` (e.g. "/kie-sim").

        Call before the parent starts. `public_base` is the parent's own base URL (result and file
        URLs are built from it); when the port is only known after start, call `bind()` then.
        """
        parent.add_subapp(prefix, self.app)
        self._mount_prefix = prefix.rstrip("/")
        if public_base is not None:
            self.bind(public_base)

    def bind(self, public_base: str) -> None:
        """Set the public base URL of a mounted simulator (the parent's base, without the prefix)."""
        self._base_url = public_base.rstrip("/") + self._mount_prefix

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            if task.driver is not None:
                task.driver.cancel()
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> KieSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def complete(self, task_id: str) -> None:
        """Finish a task successfully now (callbacks are sent in the background)."""
        self._finish(self.tasks[task_id], "success")

    def fail(self, task_id: str, code: int = 501, msg: str = "Simulated generation failure",
             flag: int | None = None) -> None:
        """Finish a task as failed now. `flag` picks Veo/Luma's successFlag (2 or 3; default 3)."""
        task = self.tasks[task_id]
        task.fail_flag = flag
        self._finish(task, "fail", code, msg)

    async def wait_final(self, task_id: str, timeout: float = 5.0) -> SimTask:
        deadline = time.monotonic() + timeout
        while self.tasks[task_id].outcome is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} not final after {timeout}s")
            await asyncio.sleep(0.005)
        return self.tasks[task_id]

    async def wait_callbacks(self, count: int, timeout: float = 5.0, task_id: str | None = None) -> None:
        """Wait until at least `count` callback attempts (for `task_id`, or any) were made."""
        deadline = time.monotonic() + timeout
        while len(self.callbacks_for(task_id)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.callbacks_for(task_id))} callbacks after {timeout}s")
            await asyncio.sleep(0.005)

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until every background job (callback deliveries) has finished."""
        async with asyncio.timeout(timeout):
            while self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)

    def callbacks_for(self, task_id: str | None) -> list[CallbackAttempt]:
        return [c for c in self.callbacks if task_id is None or c.task_id == task_id]

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def telegram_leaks(self) -> list[str]:
        """Every recorded request fragment that looks like a Telegram file URL or bot token."""
        found: list[str] = []
        for recorded in self.requests:
            found.extend(_TELEGRAM_LEAK_RE.findall(recorded.text_for_leak_scan()))
        return found

    def result_url(self, task_id: str, name: str = "video.mp4") -> str:
        return f"{self.base_url}/results/{task_id}/{name}"

    def add_file(self, key: str, data: bytes, mime_type: str = "application/octet-stream") -> str:
        """Store a file as if it had been uploaded; returns its download URL."""
        self.files[key.strip("/")] = StoredFile(data, mime_type, time.time())
        return f"{self.base_url}/files/{key.strip('/')}"

    # ------------------------------------------------------------------ app and middleware

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_middleware], client_max_size=1024**3)
        for family, endpoints in FAMILIES.items():
            app.router.add_post(endpoints.create_path, self._create_handler(family))
            for status_path in endpoints.status_paths:
                app.router.add_get(status_path, self._status_handler(family))
        app.router.add_get("/api/v1/chat/credit", self._handle_credit)
        app.router.add_get("/api/v1/models", self._handle_model_list)
        # Model ids contain "/" (kling-3.0/video), sent unencoded: the last segment names the call.
        app.router.add_get("/api/v1/models/{model:.+}/{what:price|success-rate|schema}",
                           self._handle_model_info)
        app.router.add_post("/api/v1/common/download-url", self._handle_download_url)
        app.router.add_post("/api/file-stream-upload", self._handle_stream_upload)
        app.router.add_post("/api/file-url-upload", self._handle_url_upload)
        app.router.add_post("/api/file-base64-upload", self._handle_base64_upload)
        app.router.add_get("/files/{key:.+}", self._handle_file)
        app.router.add_get("/results/{task_id}/{name}", self._handle_result)
        app.router.add_get("/dl/{token}/{name}", self._handle_download_link)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @web.middleware
    async def _record_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        recorded = RecordedRequest(
            method=request.method,
            path=_strip_prefix(request.rel_url.path, self._mount_prefix),
            query=dict(request.query),
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        if request.content_type == "application/json" and request.can_read_body:
            raw = await request.read()  # aiohttp caches it; handlers read it again
            recorded.body_size = len(raw)
            try:
                recorded.json = json.loads(raw)
            except ValueError:
                recorded.json = None
        self.requests.append(recorded)
        request[_RECORD_KEY] = recorded
        return await handler(request)

    # ------------------------------------------------------------------ helpers

    def _answer(self, code: int, msg: str, data: Any = None, *, http_status: int | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
        mirrored = code if code in self.mirror_http_status else 200
        status = http_status if http_status is not None else mirrored
        return web.json_response(_envelope(code, msg, data), status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), self.api_key)

    async def _apply_endpoint_fault(self, request: web.Request, endpoint: str,
                                    fault: EndpointFault | None) -> web.StreamResponse | None:
        """Carry out an injected fault; None means "answer normally" (possibly after a delay)."""
        if fault is None:
            return None
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.hang:
            await asyncio.sleep(3600)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError(f"simulated dropped connection on {endpoint}")
        if fault.answers_normally:
            return None
        headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s is not None else None
        if fault.garbled is not None:
            content_type, text = GARBLED_BODIES[fault.garbled]
            return web.Response(status=fault.http_status, text=text, content_type=content_type,
                                headers=headers)
        if fault.code is None:
            return web.Response(status=fault.http_status, text="upstream error", headers=headers)
        return web.json_response(_envelope(fault.code, fault.msg or f"simulated {fault.code}"),
                                 status=fault.http_status, headers=headers)

    @staticmethod
    def _over_limit(times: deque[float], limit: int, window_s: float) -> bool:
        now = time.monotonic()
        while times and times[0] <= now - window_s:
            times.popleft()
        if len(times) >= limit:
            return True
        times.append(now)
        return False

    def _spawn(self, coro: Awaitable[None]) -> None:
        job: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ model discovery

    def fail_model_list(self, kind: str, *, times: int | None = None) -> EndpointFault:
        """Make the discovery calls fail like KIE can: "401" (bad key), "429" (over the limit, HTTP 200
        with the code in the body), "5xx" (a gateway page without an envelope), "network" (the
        connection drops). `times` None: until `self.faults.clear()`."""
        shapes: dict[str, dict[str, Any]] = {
            "401": {"code": 401, "msg": UNAUTHORIZED_MSG},
            "429": {"code": 429, "msg": "Too many requests, please slow down"},
            "5xx": {"http_status": 502},
            "network": {"drop": True},
        }
        return self.faults.inject("models", times=times, **shapes[kind])

    async def _discovery_refusal(self, request: web.Request) -> web.StreamResponse | None:
        faulty = await self._apply_endpoint_fault(request, "models", self.faults.take("models"))
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            return self._answer(401, UNAUTHORIZED_MSG)
        rate = self.discovery_limit_per_s
        limit = max(1, int(rate or 1))
        if rate is not None and self._over_limit(self._discovery_times, limit, limit / rate):
            self.rate_limited["discovery"] += 1
            return self._answer(429, "Too many requests, please slow down")
        return None

    async def _handle_model_list(self, request: web.Request) -> web.StreamResponse:
        refusal = await self._discovery_refusal(request)
        if refusal is not None:
            return refusal
        query = request.query
        data = self.model_list.listing(task_type=query.get("taskType"), provider=query.get("provider"),
                                       query=query.get("q"))
        return self._answer(200, "success", data)

    async def _handle_model_info(self, request: web.Request) -> web.StreamResponse:
        refusal = await self._discovery_refusal(request)
        if refusal is not None:
            return refusal
        model_id, what = request.match_info["model"], request.match_info["what"]
        model = self.model_list.models.get(model_id)
        if model is None:
            return self._answer(404, f"Model not found: {model_id}")
        if what == "price":
            return self._answer(200, "success", {"model": model_id, "pricingDesc": model.pricing})
        if what == "schema":
            return self._answer(200, "success", {"model": model_id, "openapi": model.openapi})
        return self._answer(200, "success", self.model_list.success_rate(model_id))

    # ------------------------------------------------------------------ create

    def _create_handler(self, family: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle_create(request, family)

        return handle

    async def _handle_create(self, request: web.Request, family: str) -> web.StreamResponse:
        fault = self.faults.take("create")
        if fault is not None and not fault.process:
            faulty = await self._apply_endpoint_fault(request, "create", fault)
            if faulty is not None:
                return faulty
        if not self._authorized(request):
            return self._answer(401, UNAUTHORIZED_MSG)
        if self._over_limit(self._create_times, self.create_limit, self.create_window_s):
            self.rate_limited["create"] += 1
            return self._answer(429, "Too many requests, please slow down")
        body = request[_RECORD_KEY].json
        if not isinstance(body, dict):
            return self._answer(422, "Request body must be a JSON object")
        try:
            task = self._validate_and_build(family, body)
        except RuleViolation as violation:
            return self._answer(violation.code, violation.message)
        if task.faults.refuse_create is not None:  # a [sim:refuse=...] marker in the prompt
            code, message = task.faults.refuse_create
            return self._answer(code, message)
        if task.price > self.balance:
            return self._answer(402, "Credits insufficient")
        self.tasks[task.task_id] = task
        # Shared object: sim.faults.set_for(task_id, ...) changes this task's behaviour live.
        self.faults.per_task[task.task_id] = task.faults
        self._schedule(task)
        if fault is not None and fault.process:
            faulty = await self._apply_endpoint_fault(request, "create", fault)
            if faulty is not None:
                return faulty
        return self._answer(200, "success", {"taskId": task.task_id})

    def _validate_and_build(self, family: str, body: dict[str, Any]) -> SimTask:
        rule: ModelRule | None = None
        if family == "veo":
            price, media, model = validate_veo(body, self.strict)
        elif family == "runway":
            price, media, model = validate_runway(body, self.strict)
        elif family == "aleph":
            price, media, model = validate_aleph(body, self.strict)
        elif family == "modify":
            price, media, model = validate_modify(body, self.strict)
        else:
            price, media, model, rule = validate_market(body, self.strict)
        if self.require_uploaded_inputs:
            for url in collect_urls(body):
                if not self._is_own_file(url):
                    raise RuleViolation(f"Failed to fetch the input file: {url[:80]}")
        task_id = self._new_task_id(family)
        task = SimTask(
            task_id=task_id, family=family, model=model, body=body, price=price, media=media, rule=rule,
            faults=TaskFaults(), callback_url=body.get("callBackUrl") or None,
            created_mono=time.monotonic(), created_wall=time.time(),
        )
        task.faults = self.faults.for_new_task(task.prompt)
        return task

    def _is_own_file(self, url: str) -> bool:
        prefix = f"{self._base_url}/files/"
        return url.startswith(prefix) and self._live_file(url[len(prefix):]) is not None

    def _live_file(self, key: str) -> StoredFile | None:
        """An uploaded file, unless KIE would have deleted it by now (24 h, kie-api-2026.md §1.2)."""
        stored = self.files.get(key)
        if stored is None or time.time() - stored.uploaded_at >= self.upload_ttl_s:
            return None
        return stored

    @staticmethod
    def _new_task_id(family: str) -> str:
        if family == "veo":
            return f"veo_task_{secrets.token_hex(8)}"
        if family in ("runway", "aleph"):
            return str(uuid.uuid4())
        return secrets.token_hex(16)

    # ------------------------------------------------------------------ task life

    def _schedule(self, task: SimTask) -> None:
        if not self.timings.auto_complete or task.faults.never_finish:
            return
        total = self.timings.wait_s + self.timings.queue_s + self.timings.generate_s + task.faults.delay_s
        task.driver = asyncio.ensure_future(self._drive(task, total))

    async def _drive(self, task: SimTask, total_s: float) -> None:
        await asyncio.sleep(total_s)
        task.driver = None
        if task.faults.fail is not None:
            code, msg = task.faults.fail
            self._finish(task, "fail", code, msg)
        else:
            self._finish(task, "success")

    def _finish(self, task: SimTask, outcome: str, code: int | None = None, msg: str = "") -> None:
        if task.outcome is not None:
            return
        if task.driver is not None:
            task.driver.cancel()
            task.driver = None
        task.outcome = outcome
        task.finished_wall = time.time()
        task.finished_mono = time.monotonic()
        if outcome == "fail":
            task.fail_code = code or 501
            task.fail_msg = msg or "Simulated generation failure"
        else:
            # Failed tasks are not charged (kie-api.md §3.3).
            self.balance = max(0, self.balance - task.price)
        if task.callback_url and not task.faults.lose_callback:
            deliveries = 2 if task.faults.duplicate_callback else 1
            self._spawn(self._deliver_callbacks(task, deliveries))

    def _phase(self, task: SimTask) -> tuple[str, int]:
        """(phase, progress) of a running task: waiting | queuing | generating."""
        elapsed = time.monotonic() - task.created_mono
        t = self.timings
        if elapsed < t.wait_s:
            return "waiting", 0
        if elapsed < t.wait_s + t.queue_s:
            return "queuing", 0
        generate_s = t.generate_s + task.faults.delay_s
        fraction = (elapsed - t.wait_s - t.queue_s) / generate_s if generate_s > 0 else 1.0
        return "generating", max(1, min(99, int(fraction * 100)))

    def _result_urls(self, task: SimTask) -> tuple[str, str]:
        return self.result_url(task.task_id), self.result_url(task.task_id, "cover.jpg")

    # ------------------------------------------------------------------ status

    def _status_handler(self, family: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle_status(request, family)

        return handle

    async def _handle_status(self, request: web.Request, family: str) -> web.StreamResponse:
        faulty = await self._apply_endpoint_fault(request, "status", self.faults.take("status"))
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            return self._answer(401, UNAUTHORIZED_MSG)
        if self.status_limit_per_s is not None and self._over_limit(
            self._status_times, max(1, int(self.status_limit_per_s)), max(1, int(self.status_limit_per_s))
            / self.status_limit_per_s
        ):
            self.rate_limited["status"] += 1
            return self._answer(429, "Too many requests, please slow down")
        task_id = request.query.get("taskId", "")
        if not task_id:
            return self._answer(400, "taskId is required")
        task = self.tasks.get(task_id)
        not_found = FAMILIES[family].not_found_message
        if task is None or task.family != family:
            return self._answer(422, not_found)
        if time.monotonic() - task.created_mono < self.timings.visible_after_s:
            return self._answer(422, not_found)
        if task.faults.slow_status_s:
            await asyncio.sleep(task.faults.slow_status_s)
        if task.faults.status_errors:
            code = task.faults.status_errors.pop(0)
            return self._answer(code, f"simulated {code}")
        builder = {
            "veo": self._veo_record, "runway": self._runway_record, "aleph": self._aleph_record,
            "modify": self._modify_record, "market": self._market_record,
        }[family]
        return self._answer(200, "success", builder(task))

    def _veo_record(self, task: SimTask) -> dict[str, Any]:
        video_url, _ = self._result_urls(task)
        flag, response = 0, None
        if task.outcome == "success":
            flag = 1
            ratio = task.body.get("aspectRatio") or task.body.get("aspect_ratio") or "16:9"
            response = {
                "taskId": task.task_id, "resultUrls": [video_url],
                "originUrls": [self.result_url(task.task_id, "origin.mp4")] if ratio != "16:9" else None,
                "fullResultUrls": [video_url], "resolution": task.body.get("resolution") or "720p",
            }
        elif task.outcome == "fail":
            flag = task.fail_flag or 3
        return {
            "taskId": task.task_id, "paramJson": json.dumps(_without_callback(task.body)),
            "createTime": _clock_text(task.created_wall), "completeTime": _clock_text(task.finished_wall),
            "successFlag": flag, "errorCode": task.fail_code, "errorMessage": task.fail_msg,
            "response": response, "fallbackFlag": False,
        }

    def _runway_record(self, task: SimTask) -> dict[str, Any]:
        phase, _ = self._phase(task)
        state = {"waiting": "wait", "queuing": "queueing", "generating": "generating"}[phase]
        video_info = None
        if task.outcome == "success":
            state = "success"
            video_url, image_url = self._result_urls(task)
            video_info = {"videoId": task.task_id, "taskId": task.task_id, "videoUrl": video_url,
                          "imageUrl": image_url}
        elif task.outcome == "fail":
            state = "fail"
        return {
            "taskId": task.task_id, "parentTaskId": "", "state": state,
            "generateTime": _clock_text(task.created_wall),
            "generateParam": {"prompt": task.prompt, "imageUrl": task.body.get("imageUrl", ""),
                              "expandPrompt": True},
            "videoInfo": video_info, "failCode": task.fail_code, "failMsg": task.fail_msg,
            "expireFlag": 1 if self._result_expired(task) else 0,
        }

    def _aleph_record(self, task: SimTask) -> dict[str, Any]:
        # successFlag is 1 only on success; 0 means "running" AND "failed" (kie-api.md §5.6).
        response = None
        error_code: int | None = None
        if task.outcome == "success":
            video_url, image_url = self._result_urls(task)
            response = {"taskId": task.task_id, "resultVideoUrl": video_url, "resultImageUrl": image_url}
            error_code = 0
        elif task.outcome == "fail":
            error_code = task.fail_code
        return {
            "taskId": task.task_id, "paramJson": json.dumps(_without_callback(task.body)),
            "response": response, "completeTime": _iso(task.finished_wall),
            "createTime": _iso(task.created_wall),
            "successFlag": 1 if task.outcome == "success" else 0, "errorCode": error_code,
            "errorMessage": task.fail_msg,
        }

    def _modify_record(self, task: SimTask) -> dict[str, Any]:
        flag, response = 0, None
        if task.outcome == "success":
            flag = 4 if task.callback_failed else 1
            video_url, _ = self._result_urls(task)
            response = {"taskId": task.task_id, "originUrls": [video_url], "resultUrls": [video_url]}
        elif task.outcome == "fail":
            flag = task.fail_flag or 3
        return {
            "taskId": task.task_id, "paramJson": json.dumps(_without_callback(task.body)),
            "completeTime": _ms(task.finished_wall), "createTime": _ms(task.created_wall),
            "successFlag": flag, "errorCode": task.fail_code, "errorMessage": task.fail_msg or None,
            "response": response,
        }

    def _market_data(self, task: SimTask, *, for_callback: bool) -> dict[str, Any]:
        """recordInfo `data` as KIE's 2026 docs show it (kie-api-2026.md §1.2 items 5-7): while
        waiting `resultJson` is "" and failCode/failMsg/costTime/completeTime are null; `response` is
        resultJson already parsed; successFlag 0/1/3; creditsConsumed a float; costTime in seconds."""
        phase, progress = self._phase(task)
        state = phase
        # Polling shows "" until there is a result; the documented failure callback shows null.
        result_json: str | None = None if for_callback else ""
        response: dict[str, Any] | None = None
        fail_code: str | None = None
        fail_msg: str | None = None
        success_flag = 0
        if task.outcome == "success":
            state, progress, success_flag = "success", 100, 1
            response = {"resultUrls": [self.result_url(task.task_id)]}
            if task.model.startswith("sora"):
                response["resultWaterMarkUrls"] = [self.result_url(task.task_id, "watermarked.mp4")]
            result_json = json.dumps(response)
        elif task.outcome == "fail":
            state, success_flag = "fail", 3
            fail_code, fail_msg = str(task.fail_code), task.fail_msg
        now_ms = _ms(task.finished_wall) or _ms(time.time())
        cost_time_s = (
            round(task.finished_wall - task.created_wall) if task.finished_wall is not None else None
        )
        data: dict[str, Any] = {
            "taskId": task.task_id, "model": task.model, "state": state,
            # `param` is JSON text whose `input` is itself JSON text (double-encoded, as KIE does).
            "param": json.dumps({**task.body, "input": json.dumps(task.body.get("input"))}),
            "resultJson": result_json, "response": response, "successFlag": success_flag,
            "failCode": fail_code, "failMsg": fail_msg,
            # KIE bills successes only (kie-api.md §3.3); a failed task consumed nothing.
            "creditsConsumed": self._credits_consumed(task),
            "costTime": cost_time_s,
            "createTime": _ms(task.created_wall), "updateTime": now_ms,
            "completeTime": _ms(task.finished_wall),
        }
        if task.rule is not None and task.rule.has_progress:
            data["progress"] = progress if task.outcome != "fail" else 0
        return data

    def _credits_consumed(self, task: SimTask) -> float | None:
        if task.outcome is None:
            return None
        if task.outcome == "fail":
            return 0.0
        return float(task.price)

    def _market_record(self, task: SimTask) -> dict[str, Any]:
        return self._market_data(task, for_callback=False)

    # ------------------------------------------------------------------ callbacks

    def _callback_body(self, task: SimTask) -> dict[str, Any]:
        ok = task.outcome == "success"
        video_url, image_url = self._result_urls(task)
        code = 200 if ok else (task.fail_code or 501)
        if task.family == "veo":
            if ok:
                record = self._veo_record(task)["response"]
                info = {"resultUrls": record["resultUrls"], "originUrls": record["originUrls"],
                        "resolution": record["resolution"]}
                return _envelope(200, "Veo3.1 video generated successfully.", {
                    "taskId": task.task_id, "promptJson": json.dumps(_without_callback(task.body)),
                    "info": info, "fallbackFlag": False})
            return _envelope(code, task.fail_msg, {"taskId": task.task_id, "fallbackFlag": False})
        if task.family == "runway":
            if ok:
                return _envelope(200, "All generated successfully.", {
                    "task_id": task.task_id, "video_id": task.task_id, "video_url": video_url,
                    "image_url": image_url})
            return _envelope(code, task.fail_msg, {"task_id": "", "video_id": "", "video_url": "",
                                                   "image_url": ""})
        if task.family == "aleph":
            body = (_envelope(200, "success", {"result_video_url": video_url, "result_image_url": image_url})
                    if ok else _envelope(code, task.fail_msg, None))
            body["taskId"] = task.task_id
            return body
        if task.family == "modify":
            prompt_json = json.dumps(_without_callback(task.body))
            if ok:
                return _envelope(200, "Modify record generated successfully.", {
                    "taskId": task.task_id, "promptJson": prompt_json, "resultUrls": [video_url]})
            return _envelope(code, "Modify record generation failed.", {"taskId": task.task_id,
                                                                        "promptJson": prompt_json})
        data = self._market_data(task, for_callback=True)
        if ok:
            return _envelope(200, "Playground task completed successfully.", data)
        return _envelope(501, "Playground task failed.", data)

    async def _deliver_callbacks(self, task: SimTask, deliveries: int) -> None:
        for delivery in range(1, deliveries + 1):
            delivered = await self._deliver_once(task, delivery)
            if not delivered and delivery == 1:
                task.callback_failed = True

    async def _deliver_once(self, task: SimTask, delivery: int) -> bool:
        assert task.callback_url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = self._callback_body(task)
        for attempt in range(1, self.timings.callback_retries + 2):
            headers = {"Content-Type": "application/json"}
            if self.hmac_key:
                headers.update(signature_headers(self.hmac_key, task.task_id))
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(
                    task.callback_url, data=json.dumps(body), headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timings.callback_timeout_s),
                ) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.callbacks.append(CallbackAttempt(task.task_id, task.callback_url, attempt, delivery, body,
                                                  headers, status, error, time.monotonic()))
            if status == 200:
                return True
            if attempt <= self.timings.callback_retries:
                await asyncio.sleep(self.timings.callback_retry_delay_s)
        log.info("simulator: callback for %s gave up after %d attempts", task.task_id, attempt)
        return False

    # ------------------------------------------------------------------ common endpoints

    async def _handle_credit(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._apply_endpoint_fault(request, "credit", self.faults.take("credit"))
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            return self._answer(401, UNAUTHORIZED_MSG)
        # A decimal on the wire (`"data": 5916.25`, kie-api-2026.md §1.2 item 4).
        return self._answer(200, "success", float(self.balance))

    async def _handle_download_url(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._apply_endpoint_fault(request, "download_url", self.faults.take("download_url"))
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            return self._answer(401, UNAUTHORIZED_MSG)
        body = request[_RECORD_KEY].json
        url = body.get("url") if isinstance(body, dict) else None
        own = f"{self._base_url}/"
        if not isinstance(url, str) or not url.startswith(own):
            return self._answer(422, "Only kie.ai generated file URLs are supported")
        target = url[len(own) - 1:].split("?", 1)[0]
        if not (target.startswith("/results/") or target.startswith("/files/")):
            return self._answer(422, "Only kie.ai generated file URLs are supported")
        token = secrets.token_urlsafe(16)
        self._download_links[token] = (target, time.monotonic() + self.timings.download_link_ttl_s)
        name = target.rsplit("/", 1)[-1] or "file"
        return self._answer(200, "success", f"{self.base_url}/dl/{token}/{name}")

    # ------------------------------------------------------------------ uploads

    def _upload_answer(self, key: str, stored: StoredFile, original_name: str) -> web.Response:
        url = f"{self.base_url}/files/{key}"
        uploaded_at = _iso(stored.uploaded_at)
        # Union of the per-endpoint page shape and the quickstart shape (kie-api.md §3.4).
        data = {
            "fileName": key.rsplit("/", 1)[-1], "filePath": key, "downloadUrl": url,
            "fileSize": len(stored.data), "mimeType": stored.mime_type, "uploadedAt": uploaded_at,
            "fileId": secrets.token_hex(8), "originalName": original_name, "fileUrl": url,
            "uploadTime": uploaded_at, "expiresAt": _iso(stored.uploaded_at + self.upload_ttl_s),
        }
        return web.json_response({"success": True, "code": 200, "msg": "File uploaded successfully",
                                  "data": data})

    def _upload_error(self, code: int, msg: str) -> web.Response:
        return web.json_response({"success": False, "code": code, "msg": msg, "data": None})

    def _store_upload(self, upload_path: str, file_name: str | None, data: bytes, mime: str) -> str:
        name = file_name or f"{secrets.token_hex(8)}"
        key = f"{upload_path}/{name}"
        self.files[key] = StoredFile(data, mime or "application/octet-stream", time.time())
        return key

    async def _upload_preamble(self, request: web.Request) -> web.Response | None:
        faulty = await self._apply_endpoint_fault(request, "upload", self.faults.take("upload"))
        if faulty is not None:
            return faulty  # type: ignore[return-value]
        if not self._authorized(request):
            return self._upload_error(401, UNAUTHORIZED_MSG)
        return None

    @staticmethod
    def _check_upload_path(upload_path: str | None) -> str | None:
        if not upload_path:
            return "uploadPath is required"
        if upload_path.startswith("/") or upload_path.endswith("/"):
            return "uploadPath must not start or end with a slash"
        return None

    async def _handle_stream_upload(self, request: web.Request) -> web.StreamResponse:
        early = await self._upload_preamble(request)
        if early is not None:
            return early
        if not request.content_type.startswith("multipart/"):
            return self._upload_error(400, "multipart/form-data body required")
        reader = await request.multipart()
        fields: dict[str, str] = {}
        data: bytes | None = None
        original_name = ""
        mime = "application/octet-stream"
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "file":
                original_name = part.filename or ""
                mime = part.headers.get("Content-Type", mime)
                data = bytes(await part.read())
            elif part.name:
                fields[part.name] = await part.text()
        record: RecordedRequest = request[_RECORD_KEY]
        record.form = dict(fields)
        record.body_size = len(data or b"")
        if data is None:
            return self._upload_error(400, "file is required")
        problem = self._check_upload_path(fields.get("uploadPath"))
        if problem:
            return self._upload_error(400, problem)
        key = self._store_upload(fields["uploadPath"], fields.get("fileName") or None, data, mime)
        return self._upload_answer(key, self.files[key], original_name)

    async def _handle_url_upload(self, request: web.Request) -> web.StreamResponse:
        early = await self._upload_preamble(request)
        if early is not None:
            return early
        body = request[_RECORD_KEY].json
        if not isinstance(body, dict) or not isinstance(body.get("fileUrl"), str):
            return self._upload_error(400, "fileUrl is required")
        problem = self._check_upload_path(body.get("uploadPath"))
        if problem:
            return self._upload_error(400, problem)
        file_url: str = body["fileUrl"]
        if not file_url.startswith(("http://", "https://")):
            return self._upload_error(400, "fileUrl must be http or https")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(file_url, timeout=aiohttp.ClientTimeout(total=30)) as response:
                if response.status != 200:
                    return self._upload_error(400, f"failed to download fileUrl (HTTP {response.status})")
                data = await response.read()
                mime = response.headers.get("Content-Type", "application/octet-stream")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._upload_error(400, f"failed to download fileUrl ({type(exc).__name__})")
        name = body.get("fileName") or file_url.rsplit("/", 1)[-1].split("?", 1)[0] or None
        key = self._store_upload(body["uploadPath"], name, data, mime)
        return self._upload_answer(key, self.files[key], name or "")

    async def _handle_base64_upload(self, request: web.Request) -> web.StreamResponse:
        early = await self._upload_preamble(request)
        if early is not None:
            return early
        body = request[_RECORD_KEY].json
        if not isinstance(body, dict) or not isinstance(body.get("base64Data"), str):
            return self._upload_error(400, "base64Data is required")
        problem = self._check_upload_path(body.get("uploadPath"))
        if problem:
            return self._upload_error(400, problem)
        encoded: str = body["base64Data"]
        mime = "application/octet-stream"
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            mime = header[5:].split(";", 1)[0] or mime
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return self._upload_error(400, "base64Data is not valid base64")
        key = self._store_upload(body["uploadPath"], body.get("fileName") or None, data, mime)
        return self._upload_answer(key, self.files[key], body.get("fileName") or "")

    # ------------------------------------------------------------------ served media

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._apply_endpoint_fault(request, "files", self.faults.take("files"))
        if faulty is not None:
            return faulty
        stored = self._live_file(request.match_info["key"])
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.mime_type.split(";", 1)[0])

    def _result_expired(self, task: SimTask) -> bool:
        if task.faults.expired_result:
            return True
        ttl = self.timings.result_ttl_s
        if ttl is None or task.finished_mono is None:
            return False
        return time.monotonic() - task.finished_mono > ttl

    async def _handle_result(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._apply_endpoint_fault(request, "result", self.faults.take("result"))
        if faulty is not None:
            return faulty
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.outcome != "success":
            raise web.HTTPNotFound()
        if self._result_expired(task):
            # What an expired pre-signed CDN link answers.
            expired = "<Error><Code>AccessDenied</Code>Request has expired</Error>"
            return web.Response(status=403, text=expired, content_type="application/xml")
        return await self._serve_result(request, task, request.match_info["name"])

    async def _handle_download_link(self, request: web.Request) -> web.StreamResponse:
        link = self._download_links.get(request.match_info["token"])
        if link is None or time.monotonic() > link[1]:
            return web.Response(status=403, text="link expired")
        target = link[0]
        if target.startswith("/files/"):
            stored = self.files.get(target[len("/files/"):])
            if stored is None:
                raise web.HTTPNotFound()
            return web.Response(body=stored.data, content_type=stored.mime_type.split(";", 1)[0])
        parts = target.split("/")  # "", "results", task_id, name
        task = self.tasks.get(parts[2]) if len(parts) >= 4 else None
        if task is None or task.outcome != "success":
            raise web.HTTPNotFound()
        return await self._serve_result(request, task, parts[3])

    async def _serve_result(self, request: web.Request, task: SimTask, name: str) -> web.StreamResponse:
        if name == "cover.jpg":
            return web.Response(body=COVER_JPEG, content_type="image/jpeg")
        if not name.endswith(".mp4"):
            raise web.HTTPNotFound()
        clip = clip_file(task.media)
        if task.faults.large_result_mb:
            return await _stream_large(request, clip, int(task.faults.large_result_mb * 1024 * 1024))
        return web.FileResponse(clip, headers={"Content-Type": "video/mp4"})


def clip_file(media: MediaChoice) -> Path:
    return MEDIA_DIR / f"{media.ratio}_{'audio' if media.with_audio else 'silent'}.mp4"


async def _stream_large(request: web.Request, clip: Path, size: int) -> web.StreamResponse:
    """A body of exactly `size` bytes: the real clip, then zero padding, produced chunk by chunk."""
    head = clip.read_bytes()[:size]
    response = web.StreamResponse(headers={"Content-Type": "video/mp4", "Content-Length": str(size)})
    await response.prepare(request)
    await response.write(head)
    remaining = size - len(head)
    zeros = bytes(_LARGE_CHUNK)
    while remaining > 0:
        step = min(remaining, _LARGE_CHUNK)
        await response.write(zeros[:step])
        remaining -= step
    await response.write_eof()
    return response


def _without_callback(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("callBackUrl", "progressCallBackUrl")}


def _strip_prefix(path: str, prefix: str) -> str:
    """Path relative to the simulator root, also when it is mounted under a prefix."""
    if prefix and path.startswith(prefix):
        return path[len(prefix):] or "/"
    return path


__all__ = [
    "COVER_JPEG",
    "CallbackAttempt",
    "KieSimulator",
    "RecordedRequest",
    "SimTask",
    "SimTimings",
    "StoredFile",
    "clip_file",
]
