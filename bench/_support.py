"""Helpers shared by the benchmarks: percentiles, load, verdict lines, process memory, a bot subprocess.

Imported by bench scripts after they put the repository root on sys.path.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

import bot.services.media as media_module

REPO_ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def verdict(
    what: str, figure: float, op: Literal["<=", ">="], target: float, unit: str = "", *, digits: int = 2
) -> bool:
    """Print the one line a script gives per target, in the form tools read:

        verdict: <what> <figure> <op> <target>: MET|NOT MET

    e.g. `verdict: p99 callback->sendVideo 0.81 s <= 1 s: MET`. The figure is compared as printed, so
    the line never contradicts itself (0.996 printed as 1.00 meets "<= 1").
    """
    shown = round(figure, digits)
    met = shown <= target if op == "<=" else shown >= target
    unit_suffix = f" {unit}" if unit else ""
    print(
        f"verdict: {what} {shown:.{digits}f}{unit_suffix} {op} {target:g}{unit_suffix}: "
        f"{'MET' if met else 'NOT MET'}"
    )
    return met


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                cell.rjust(width) if i else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


@dataclass(frozen=True)
class ProcMemory:
    """From /proc/<pid>/status, in MB: resident now (VmRSS) and the peak so far (VmHWM)."""

    rss_mb: float
    hwm_mb: float


def proc_memory(pid: int) -> ProcMemory:
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return ProcMemory(rss_mb=values["VmRSS"], hwm_mb=values["VmHWM"])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its waited-for children (ffmpeg) have used so far.

    On a busy machine wall-clock figures move with everyone else's load; the CPU a burst cost the
    bot moves far less, so it is the figure to compare changes by."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the command name: state is field 3, utime/stime/cutime/cstime are fields 14-17.
    ticks = sum(int(fields[n - 3]) for n in (14, 15, 16, 17))
    return ticks / os.sysconf("SC_CLK_TCK")


async def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> None:
    """Re-check `condition` until truthy; raise after `timeout` seconds (bounded, never forever)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(step)


class BotProcess:
    """`python -m bot` as a child process, configured only through the environment (as in production)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            "HOME": str(self.workdir),
            **self.env,
        }
        # cwd = the temp dir, so a developer's .env in the repository is never read.
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=self.workdir, env=full_env, stdout=log, stderr=log
            )

    async def wait_healthy(self, web_port: int, timeout: float = 90.0) -> None:
        # Generous: `import aiogram` alone takes seconds of CPU, more on a busy machine.
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1.0)
                    if answer.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the bot was not healthy after {timeout:.0f}s:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def memory(self) -> ProcMemory:
        return proc_memory(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    async def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- servers for the multi-instance figures (PostgreSQL, Redis) -------------------------------------

DATABASE_URL_ENV = "TEST_DATABASE_URL"
REDIS_URL_ENV = "TEST_REDIS_URL"


def server_url(given: str | None, env: str) -> str | None:
    """The URL given on the command line, else the environment's (`env`), else None."""
    url = (given or os.environ.get(env, "")).strip()
    return url or None


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def postgres_unusable(url: str | None) -> str | None:
    """Why PostgreSQL cannot be benchmarked on `url` (None: it can)."""
    if url is None:
        return f"no server: pass --database-url or set {DATABASE_URL_ENV}"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {redact(url)}: {str(exc).strip().splitlines()[0]}"
    return None


def redis_unusable(url: str | None) -> str | None:
    """Why Redis cannot be used on `url` (None: it can)."""
    if url is None:
        return f"no server: pass --redis-url or set {REDIS_URL_ENV}"
    try:
        import redis
    except ImportError:
        return "redis (the client) is not installed"
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"cannot connect to {redact(url)}: {exc}"
    finally:
        client.close()
    return None


@contextlib.contextmanager
def throwaway_database(url: str, prefix: str = "bench") -> Iterator[str]:
    """The URL of a new, empty database on `url`'s server (its role must be allowed to create
    databases), dropped afterwards even if connections to it were left open."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def without_ffmpeg() -> Iterator[None]:
    """The bot's own path when ffprobe/ffmpeg are missing: no probe, no silent track, no thumbnail."""
    real = media_module.ffprobe_available, media_module.ffmpeg_available
    media_module.ffprobe_available = media_module.ffmpeg_available = lambda: False
    try:
        yield
    finally:
        media_module.ffprobe_available, media_module.ffmpeg_available = real
