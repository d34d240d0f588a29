"""HTTP client for KIE.ai: create, status, upload, credit, download-url, result download.

One `KieClient` (two aiohttp sessions, made on first use, and its rate limiters) per process. It knows
nothing about model families: adapters build `CreateRequest` / `StatusRequest` objects and parse the
`data` it returns. aiohttp, not httpx: aiogram loads it anyway, and a second HTTP stack cost the bot
~3 MB of RSS (issue 15).

Retry rules (why they differ):
* Status, upload (bytes), credit, download-url, result download are idempotent: network errors, 429,
  5xx and 455 are retried with exponential backoff and jitter.
* A create is paid. It is resent only when KIE surely never saw it (connection refused, connect
  timeout, DNS failure, no free pool connection) or when KIE answered 429, which it documents as
  "rejected, not queued". Anything that might have reached KIE without a clear answer (read timeout,
  connection dropped after sending, gateway 5xx without a KIE body, a 2xx whose body is not a KIE
  envelope or has no taskId) raises `KieCreateOutcomeUnknown` and is never resent: one order must never
  become two paid tasks. An envelope with an error `code` is KIE's real answer, whatever the HTTP
  status (KIE answers HTTP 200 with code 429/422 in the body), and is handled by that code.

Secrets: the key travels only in the Authorization header, and only to KIE's own hosts (never to a
result CDN); it is redacted from every error text. Log lines name the path, never a full URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import aiohttp
from yarl import URL

from bot.kie.adapters._parse import as_decimal
from bot.kie.errors import (
    KieBadRequest,
    KieCreateOutcomeUnknown,
    KieDownloadTooLarge,
    KieError,
    KieNetworkError,
    KieRateLimited,
    KieResultExpired,
    KieServerError,
    KieTaskNotFound,
    KieUrlRefused,
    error_from_answer,
    parse_code,
    redact,
)
from bot.kie.models_api import (
    KieModelInfo,
    ModelSchema,
    SuccessRate,
    is_model_id,
    parse_model_list,
    parse_price,
    parse_schema,
    parse_success_rate,
)
from bot.kie.ratelimit import (
    Limiter,
    LimiterFactory,
    PerKeyLimiter,
    PositionListener,
    Sleep,
    Unlimited,
    local_limiter,
    per_second_shape,
)
from bot.kie.types import CreateRequest, StatusRequest
from bot.kie.url_guard import GuardedResolver, UrlGuard

log = logging.getLogger(__name__)
_NO_LIMIT = Unlimited()

DEFAULT_API_BASE = "https://api.kie.ai"
DEFAULT_UPLOAD_BASE = "https://kieai.redpandaai.co"
# Redirect hops followed by a result download; each one is checked like the first URL.
MAX_DOWNLOAD_REDIRECTS = 5
# How long a permit stays counted after it was sent even when KIE answers sooner: KIE's timer
# resolution, a few ms. The answer itself bounds KIE's count (see KieClient.__init__).
HOLD_MARGIN_S = 0.003
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

USER_AGENT = "kie-video-bot/0.1"
# Network errors: aiohttp's own, and a plain TimeoutError when an upload's total budget runs out.
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError)
# Raised before a single request byte left this machine: safe to resend a create. ClientConnectorError
# covers a refused connection, a DNS failure and a TLS handshake failure; ConnectionTimeoutError the
# connect and the wait for a free pool connection.
_NEVER_SENT_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try. Delay before retry n (1-based) is
    min(max_delay_s, base_delay_s * 2**(n-1)) scaled by a random factor in [1 - jitter, 1]."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.5

    def delay_s(self, retry_number: int, retry_after_s: float | None = None) -> float:
        backoff: float = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        backoff *= random.uniform(1.0 - self.jitter, 1.0)
        if retry_after_s is not None:
            # Honour the server's hint, but never wait longer than our own ceiling.
            backoff = max(backoff, min(retry_after_s, self.max_delay_s))
        return backoff


@dataclass(frozen=True)
class KieTimeouts:
    """In aiohttp's terms: `connect_s` the TCP/TLS connect, `pool_s` the wait for a free pooled
    connection on top of it, `read_s` the longest pause while waiting for or reading an answer.
    aiohttp has no write timeout: a call's body is small, an upload gets `upload_s` in total."""

    connect_s: float = 10.0
    read_s: float = 30.0
    pool_s: float = 10.0
    upload_s: float = 300.0      # the whole of one upload
    download_read_s: float = 60.0  # longest pause between two chunks of a result download

    def api(self) -> aiohttp.ClientTimeout:
        return self._timeout(read_s=self.read_s)

    def upload(self) -> aiohttp.ClientTimeout:
        return self._timeout(read_s=self.upload_s, total_s=self.upload_s)

    def download(self) -> aiohttp.ClientTimeout:
        return self._timeout(read_s=self.download_read_s)

    def _timeout(self, *, read_s: float, total_s: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total_s, connect=self.pool_s + self.connect_s, sock_connect=self.connect_s, sock_read=read_s
        )


class KieSettingsLike(Protocol):
    """The part of bot.config.Settings the client reads."""

    kie_api_base: str
    kie_upload_base: str
    kie_create_limit: int
    kie_create_window_s: float
    kie_status_rps: float
    @property
    def kie_status_limit_scope(self) -> str: ...
    kie_discovery_rps: float
    result_fetch_allow_hosts: tuple[str, ...]

    @property
    def kie_api_key(self) -> Any: ...


@dataclass
class KieCallStats:
    """Counters for the admin status page and the benchmark."""

    creates: int = 0
    status_calls: int = 0
    retries: int = 0
    rate_limited_answers: int = 0
    errors_by_key: dict[str, int] = field(default_factory=dict)

    def count_error(self, error: KieError) -> None:
        key = error.operator_message_key
        self.errors_by_key[key] = self.errors_by_key.get(key, 0) + 1


class KieClient:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        upload_base: str = DEFAULT_UPLOAD_BASE,
        create_limit: int = 20,
        create_window_s: float = 10.0,
        status_rps: float = 10.0,
        status_limit_scope: str = "key",
        discovery_rps: float = 1.0,
        create_limiter: Limiter | None = None,
        status_limiter: Limiter | None = None,
        discovery_limiter: Limiter | None = None,
        limiters: LimiterFactory = local_limiter,
        retry: RetryPolicy | None = None,
        create_retry: RetryPolicy | None = None,
        timeouts: KieTimeouts | None = None,
        max_connections: int = 100,
        sleep: Sleep = asyncio.sleep,
        fetch_allow: tuple[str, ...] = (),
    ) -> None:
        if not api_key:
            raise ValueError("KIE api_key is empty")
        self._api_key = api_key
        self._secrets = (api_key,)
        self.api_base = api_base.rstrip("/")
        self.upload_base = upload_base.rstrip("/")
        # Every call below holds its permit until its answer (`hold()` in `_send`), and KIE counted the
        # request before it answered, so the answer already bounds the arrival: the margins only cover
        # KIE's own timer resolution (HOLD_MARGIN_S), not network jitter (see ratelimit.py). A wider
        # margin costs its width per window: 20 ms is 2 % of the 1 s status window (issue 15).
        # `limiters` makes them: in-process by default, shared by every instance (Redis) when given.
        # Their names start with a digest of the key: KIE's limits are per account.
        account = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        status_limit, status_window_s = per_second_shape(status_rps)
        self.create_limiter: Limiter = create_limiter or limiters(
            f"{account}:create", create_limit, create_window_s,
            safety_margin_s=HOLD_MARGIN_S,
        )
        self.status_limiter: Limiter = status_limiter or limiters(
            f"{account}:status", status_limit, status_window_s, safety_margin_s=HOLD_MARGIN_S
        )
        # KIE's status limit reads "10/s per key" in kie-api.md and "10/s per taskId" in KIE's 2026
        # skill text (kie-api-2026.md §1.2 item 3). "key": every status call shares `status_limiter`
        # (safe under both readings). "task": each task id gets its own limiter at `status_rps`.
        if status_limit_scope not in ("key", "task"):
            raise ValueError(f"status_limit_scope must be 'key' or 'task', got {status_limit_scope!r}")
        self.status_limit_scope = status_limit_scope
        self._task_status_limiters = PerKeyLimiter(
            lambda task_id: limiters(
                f"{account}:status:task:{task_id}", status_limit, status_window_s,
                safety_margin_s=HOLD_MARGIN_S,
            )
        )
        # Credit and download-url calls name no task: under "key" they share the status budget (as
        # before), under "task" they get one limiter of their own at the same rate.
        self.account_limiter: Limiter = (
            self.status_limiter
            if status_limit_scope == "key"
            else limiters(f"{account}:account", status_limit, status_window_s, safety_margin_s=HOLD_MARGIN_S)
        )
        # The four model-discovery calls share one budget of 1 request/s per account (§1.4): one
        # limiter for all of them, whoever calls (the catalog check, kie-check, /stats never does).
        discovery_limit, discovery_window_s = per_second_shape(discovery_rps)
        self.discovery_limiter: Limiter = discovery_limiter or limiters(
            f"{account}:discovery", discovery_limit, discovery_window_s, safety_margin_s=HOLD_MARGIN_S
        )
        self.retry = retry or RetryPolicy()
        # Discovery answers are cached by their callers and asked again hours later: one retry is enough.
        self.discovery_retry = RetryPolicy(attempts=2, base_delay_s=1.0)
        self.create_retry = create_retry or RetryPolicy(attempts=3, base_delay_s=1.0)
        self.timeouts = timeouts or KieTimeouts()
        self._sleep = sleep
        self.stats = KieCallStats()
        self.max_connections = max_connections
        self.url_guard = UrlGuard(fetch_allow)
        # Made on first use (aiohttp wants a running loop). TLS: aiohttp's verified default context,
        # made once when aiohttp is imported, so no CA bundle is loaded again here.
        self._http: aiohttp.ClientSession | None = None
        self._fetch: aiohttp.ClientSession | None = None

    def _api_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=self.timeouts.api(),
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._http

    def _fetch_session(self) -> aiohttp.ClientSession:
        """Result downloads: a session of their own, without the key, every connection checked and
        pinned to a public address by its resolver (url_guard.py), each host name resolved again
        for every new connection (no DNS cache), no proxy from the environment, no redirects
        followed. Connections are kept alive: each was made to an address the guard checked, and a
        kept one only serves its own host again, so a burst of deliveries from one CDN does not pay
        a TCP and TLS handshake per video."""
        if self._fetch is None:
            self._fetch = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections,
                    resolver=GuardedResolver(self.url_guard),
                    use_dns_cache=False,
                ),
                timeout=self.timeouts.download(),
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._fetch

    @classmethod
    def from_settings(
        cls,
        settings: KieSettingsLike,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        upload_base: str | None = None,
        **kwargs: Any,
    ) -> KieClient:
        """Build from Settings; sandbox mode passes the simulator's key and bases explicitly."""
        key = api_key
        kwargs.setdefault("fetch_allow", ())
        kwargs["fetch_allow"] = (*settings.result_fetch_allow_hosts, *kwargs["fetch_allow"])
        if key is None and settings.kie_api_key is not None:
            key = settings.kie_api_key.get_secret_value()
        return cls(
            key or "",
            api_base=api_base or settings.kie_api_base,
            upload_base=upload_base or settings.kie_upload_base,
            create_limit=settings.kie_create_limit,
            create_window_s=settings.kie_create_window_s,
            status_rps=settings.kie_status_rps,
            status_limit_scope=settings.kie_status_limit_scope,
            discovery_rps=settings.kie_discovery_rps,
            **kwargs,
        )

    async def aclose(self) -> None:
        for session in (self._http, self._fetch):
            if session is not None:
                await session.close()
        self._http = self._fetch = None

    async def __aenter__(self) -> KieClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public calls

    async def create_task(self, req: CreateRequest, *, in_line: PositionListener | None = None) -> str:
        """POST the create call; returns KIE's taskId. See the module doc for the retry rules.

        `in_line` is told the call's place in the create limiter's line while it waits for a slot."""
        self.stats.creates += 1
        data = await self._call_api("POST", req.path, json_body=req.body, limiter=self.create_limiter,
                                    policy=self.create_retry, is_create=True, in_line=in_line)
        task_id = data.get("taskId") or data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            # KIE said 200 but gave no id: a task may exist that we cannot track.
            raise KieCreateOutcomeUnknown("create answer has no taskId", code=200, http_status=200)
        return task_id

    async def get_status(self, req: StatusRequest) -> dict[str, Any]:
        """GET a status endpoint; returns the envelope's `data` object. Unknown / not yet visible
        tasks raise KieTaskNotFound (never retried here: the tracker decides)."""
        self.stats.status_calls += 1
        data = await self._call_api("GET", req.path, params=req.params, limiter=self._status_limiter_for(req),
                                    policy=self.retry)
        if not isinstance(data, dict):
            raise KieTaskNotFound("status answer has no data object", code=200)
        return data

    async def get_credit(self) -> Decimal:
        """The operator's remaining KIE credits (GET /api/v1/chat/credit). Not a whole number: KIE
        answered `"data": 5916.25` (kie-api-2026.md §1.2), so it is an exact Decimal, never rounded."""
        data = await self._call_api("GET", "/api/v1/chat/credit", limiter=self.account_limiter,
                                    policy=self.retry)
        balance = as_decimal(data)
        if balance is None:
            raise KieServerError("credit answer is not a number")
        return balance

    async def get_download_url(self, url: str) -> str:
        """Exchange a KIE-generated file URL for a fresh download link (valid ~20 minutes)."""
        data = await self._call_api("POST", "/api/v1/common/download-url", json_body={"url": url},
                                    limiter=self.account_limiter, policy=self.retry)
        if not isinstance(data, str) or not data:
            raise KieServerError("download-url answer has no URL")
        # Its address is checked again when it is downloaded; a non-http(s) answer stops here.
        self.url_guard.check_scheme(data)
        return data

    # --- model discovery (kie-api-2026.md §1.4): 1 request/s per account, shared by all four calls

    async def list_models(
        self, *, task_type: str | None = None, provider: str | None = None, query: str | None = None
    ) -> list[KieModelInfo]:
        """KIE's model list (GET /api/v1/models; no pagination). ValueError when the answer holds no
        list of models; KieError subclasses for KIE's refusals (401, 429, ...)."""
        params = {k: v for k, v in (("taskType", task_type), ("provider", provider), ("q", query)) if v}
        data = await self._call_api("GET", "/api/v1/models", params=params or None,
                                    limiter=self.discovery_limiter, policy=self.discovery_retry)
        return parse_model_list(data)

    async def model_price(self, model: str) -> str:
        """KIE's price prose for `model` ("matches what the job is billed")."""
        return parse_price(await self._discovery_get(model, "price"))

    async def model_success_rate(self, model: str) -> SuccessRate:
        return parse_success_rate(model, await self._discovery_get(model, "success-rate"))

    async def model_schema(self, model: str) -> ModelSchema:
        return parse_schema(model, await self._discovery_get(model, "schema"))

    async def _discovery_get(self, model: str, what: str) -> Any:
        if not is_model_id(model):
            raise KieBadRequest(f"not a KIE model id: {model[:80]!r}")
        # The "/" inside a model id stays as it is: KIE's paths are /models/kling-3.0/video/price.
        return await self._call_api("GET", f"/api/v1/models/{model}/{what}", limiter=self.discovery_limiter,
                                    policy=self.discovery_retry)

    async def upload_file(
        self,
        data: bytes | AsyncIterable[bytes],
        file_name: str,
        mime_type: str,
        upload_path: str = "telegram-inputs",
    ) -> str:
        """Multipart stream upload to KIE_UPLOAD_BASE/api/file-stream-upload; returns data.downloadUrl.

        Bytes are retried like any idempotent call (same name overwrites the same file). An async
        iterable is consumed once and therefore sent once.
        """
        upload_path = upload_path.strip("/")
        fields = {"uploadPath": upload_path, "fileName": file_name}
        url = f"{self.upload_base}/api/file-stream-upload"
        if isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)

            def build() -> dict[str, Any]:
                form = aiohttp.FormData()
                for name, value in fields.items():
                    form.add_field(name, value)
                form.add_field("file", payload, filename=file_name, content_type=mime_type)
                return {"data": form}

            policy = self.retry
        else:
            boundary = secrets.token_hex(16)
            stream = _multipart_stream(boundary, fields, file_name, mime_type, data)

            def build() -> dict[str, Any]:
                return {
                    "data": stream,
                    "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                }

            policy = RetryPolicy(attempts=1)
        body = await self._call(
            "POST", url, label="/api/file-stream-upload", build=build, limiter=None, policy=policy,
            timeout=self.timeouts.upload(),
        )
        info = body.get("data") if isinstance(body, dict) else None
        link = None
        if isinstance(info, dict):
            link = info.get("downloadUrl") or info.get("fileUrl")
        if not isinstance(link, str) or not link:
            raise KieServerError("upload answer has no downloadUrl")
        return link

    async def download(self, url: str, dest_path: str | os.PathLike[str], max_bytes: int,
                       *, chunk_size: int = 256 * 1024) -> int:
        """Stream `url` into `dest_path`; returns the byte count. Holds at most ~1 MB of it in memory.
        The file's directory is made (private to this user) when it does not exist, in the same
        worker-thread hop as the first write.

        Raises KieDownloadTooLarge as soon as the declared or received size passes `max_bytes` (the
        partial file is removed), KieResultExpired on 403/404/410, KieUrlRefused when the URL or a
        redirect hop is not a public http(s) address (url_guard.py; never retried). No KIE key is
        sent: result URLs live on CDNs, not on KIE's API host.
        """
        host = self.url_guard.check_scheme(url).host
        dest = Path(dest_path)
        part = dest.with_name(dest.name + ".part")
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._download_once(url, dest, part, max_bytes, chunk_size)
            except _NETWORK_ERRORS as exc:
                error: KieError = KieNetworkError(redact(f"{type(exc).__name__}: {exc}", self._secrets))
            except KieServerError as exc:
                error = exc
            if attempt >= self.retry.attempts:
                raise error
            self.stats.retries += 1
            log.warning("KIE result download from %s failed (%s), retry %d", host,
                        error.operator_message_key, attempt)
            await self._sleep(self.retry.delay_s(attempt))

    # ------------------------------------------------------------------ internals

    def _status_limiter_for(self, req: StatusRequest) -> Limiter:
        task_id = req.params.get("taskId")
        if self.status_limit_scope == "task" and task_id:
            return self._task_status_limiters.for_key(task_id)
        return self.status_limiter

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _call_api(
        self,
        method: str,
        path: str,
        *,
        limiter: Limiter | None,
        policy: RetryPolicy,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        is_create: bool = False,
        in_line: PositionListener | None = None,
    ) -> Any:
        def build() -> dict[str, Any]:
            kwargs: dict[str, Any] = {}
            if json_body is not None:
                kwargs["json"] = json_body
            if params:
                kwargs["params"] = params
            return kwargs

        body = await self._call(method, f"{self.api_base}{path}", label=path, build=build, limiter=limiter,
                                policy=policy, is_create=is_create, in_line=in_line)
        return body.get("data") if isinstance(body, dict) else None

    async def _call(
        self,
        method: str,
        url: str,
        *,
        label: str,
        build: Any,
        limiter: Limiter | None,
        policy: RetryPolicy,
        is_create: bool = False,
        timeout: aiohttp.ClientTimeout | None = None,
        in_line: PositionListener | None = None,
    ) -> Any:
        """One logical call with retries; returns the decoded success envelope."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            kwargs = build()
            headers = {**self._auth_headers(), **kwargs.pop("headers", {})}
            if timeout is not None:
                kwargs["timeout"] = timeout
            try:
                # The permit is held until the answer is back (see ratelimit.py for why).
                async with (
                    (limiter or _NO_LIMIT).hold(in_line),
                    self._api_session().request(method, url, headers=headers, **kwargs) as response,
                ):
                    status = response.status
                    raw = await response.read()
                    retry_after_header = response.headers.get("Retry-After")
            except _NETWORK_ERRORS as exc:
                error: KieError = self._transport_error(exc, is_create, label)
            else:
                body = _decode_json(raw)
                answer_error = error_from_answer(status, body, self._secrets)
                if answer_error is None:
                    return body
                error = answer_error
                if is_create and _maybe_reached_backend(status, body):
                    log.error("KIE create %s: HTTP %d without a KIE envelope; outcome unknown, not resending",
                              label, status)
                    raise KieCreateOutcomeUnknown(
                        f"HTTP {status} without a KIE answer", http_status=status
                    ) from error
                if isinstance(error, KieRateLimited):
                    self.stats.rate_limited_answers += 1
                    retry_after = _retry_after_s(retry_after_header)
            self.stats.count_error(error)
            if not self._may_retry(error, is_create) or attempt >= policy.attempts:
                log.warning("KIE %s %s failed: %s", method, label, error)
                raise error
            self.stats.retries += 1
            delay = policy.delay_s(attempt, retry_after)
            log.info("KIE %s %s: %s, retry %d in %.2fs", method, label, error.operator_message_key,
                     attempt, delay)
            await self._sleep(delay)

    def _transport_error(self, exc: Exception, is_create: bool, label: str) -> KieError:
        text = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        if is_create and not isinstance(exc, _NEVER_SENT_ERRORS):
            log.error("KIE create %s: outcome unknown after %s; not resending", label, type(exc).__name__)
            raise KieCreateOutcomeUnknown(text) from None
        return KieNetworkError(text)

    @staticmethod
    def _may_retry(error: KieError, is_create: bool) -> bool:
        if is_create:
            # Network errors reaching here were raised before sending (see _transport_error).
            return isinstance(error, KieRateLimited | KieNetworkError)
        return error.retryable

    async def _download_once(self, url: str, dest: Path, part: Path, max_bytes: int, chunk_size: int) -> int:
        hop = URL(url)
        for _hop in range(MAX_DOWNLOAD_REDIRECTS + 1):
            # Redirects are followed here, not by aiohttp, so each hop is checked before any request
            # (an IP literal here, a host name by the session's resolver, which pins its address).
            hop = self.url_guard.check(hop)
            async with self._fetch_session().get(hop, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status in _REDIRECT_STATUSES and location:
                    hop = hop.join(URL(location))
                    continue
                return await self._save(response, dest, part, max_bytes, chunk_size)
        raise KieUrlRefused(f"result URL redirects more than {MAX_DOWNLOAD_REDIRECTS} times")

    @staticmethod
    async def _save(
        response: aiohttp.ClientResponse, dest: Path, part: Path, max_bytes: int, chunk_size: int
    ) -> int:
        status = response.status
        if status in (403, 404, 410):
            raise KieResultExpired(f"result URL answered HTTP {status}", http_status=status)
        if status >= 500:
            raise KieServerError(f"result URL answered HTTP {status}", http_status=status)
        if not 200 <= status <= 299:
            raise KieError(f"result URL answered HTTP {status}", http_status=status)
        declared = parse_code(response.headers.get("Content-Length"))
        if declared is not None and declared > max_bytes:
            raise KieDownloadTooLarge(max_bytes, declared)
        # The file is written in batches of WRITE_BATCH_BYTES, each one worker-thread hop: a usual
        # clip (a few MB) costs a few hops instead of four per 256 kB chunk, which under a burst of
        # deliveries is event-loop time every other delivery waits for. Memory stays bounded.
        written = 0
        batch: list[bytes] = []
        batched = 0
        handle: BinaryIO | None = None
        try:
            async for chunk in response.content.iter_chunked(chunk_size):
                written += len(chunk)
                if written > max_bytes:
                    raise KieDownloadTooLarge(max_bytes, written)
                batch.append(chunk)
                batched += len(chunk)
                if batched >= WRITE_BATCH_BYTES:
                    handle = await asyncio.to_thread(_write_batch, handle, part, batch)
                    batch, batched = [], 0
            await asyncio.to_thread(_finish_file, handle, part, dest, batch)
        except BaseException:
            await asyncio.to_thread(_discard_file, handle, part)
            raise
        return written


WRITE_BATCH_BYTES = 1024 * 1024


def _write_batch(handle: BinaryIO | None, part: Path, chunks: list[bytes]) -> BinaryIO:
    if handle is None:
        part.parent.mkdir(mode=0o700, exist_ok=True)
        handle = part.open("wb")
    handle.writelines(chunks)
    return handle


def _finish_file(handle: BinaryIO | None, part: Path, dest: Path, chunks: list[bytes]) -> None:
    handle = _write_batch(handle, part, chunks)
    handle.close()
    part.replace(dest)


def _discard_file(handle: BinaryIO | None, part: Path) -> None:
    if handle is not None:
        handle.close()
    part.unlink(missing_ok=True)


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _maybe_reached_backend(http_status: int, body: Any) -> bool:
    """An answer to a create with no KIE envelope (no readable `code`), so the outcome is unknown:
    * 5xx (a gateway page): KIE's backend may have taken the task before the proxy gave up;
    * 2xx (an HTML page, truncated or foreign JSON): something answered "OK", so the task may exist.
    An envelope with any `code` is KIE's own answer and is never "unknown"."""
    has_envelope = isinstance(body, dict) and parse_code(body.get("code")) is not None
    return (http_status >= 500 or 200 <= http_status <= 299) and not has_envelope


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def _multipart_stream(
    boundary: str,
    fields: dict[str, str],
    file_name: str,
    mime_type: str,
    chunks: AsyncIterable[bytes],
) -> AsyncIterator[bytes]:
    """multipart/form-data produced on the fly, so a large input never sits in memory whole."""
    for name, value in fields.items():
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    safe_name = file_name.replace('"', "_").replace("\r", "_").replace("\n", "_")
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
        f"Content-Type: {mime_type}\r\n\r\n"
    ).encode()
    async for chunk in chunks:
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()
