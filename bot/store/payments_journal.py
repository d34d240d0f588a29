"""A durable side file for Stars payments the database could not take in time.

`<DATABASE_PATH>.payments-journal` holds one JSON object per line, appended and fsynced before the
`successful_payment` update is acknowledged, so a payment is never lost to a locked database.
Entries are applied later through the normal payment path, which is idempotent per charge id
(`payments.charge_id` primary key, ledger op_id "payment:<charge_id>"): an entry applied twice,
e.g. after a crash between the database commit and the journal rewrite, still credits once.

Applied entries are removed by rewriting the file atomically (temp file, fsync, os.replace, fsync
of the directory). A torn last line (a crash in the middle of an append) is skipped with a
warning: its append was never fsynced, so its update was never acknowledged and Telegram keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".payments-journal"


def journal_path_for(database_path: Path | str) -> Path:
    """The journal next to the database file."""
    return Path(f"{database_path}{JOURNAL_SUFFIX}")


@dataclass(frozen=True)
class JournaledPayment:
    """A successful_payment as Telegram sent it, not yet written to the database."""

    user_id: int
    charge_id: str
    payload: str
    currency: str
    total_amount: int
    received_at: float

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> JournaledPayment:
        data = json.loads(line)
        return cls(
            user_id=int(data["user_id"]),
            charge_id=str(data["charge_id"]),
            payload=str(data["payload"]),
            currency=str(data["currency"]),
            total_amount=int(data["total_amount"]),
            received_at=float(data["received_at"]),
        )


class PaymentsJournal:
    """Append, read and trim the journal. One instance per process; file work runs in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def append(
        self, *, user_id: int, charge_id: str, payload: str, currency: str, total_amount: int
    ) -> JournaledPayment:
        """Write one entry durably (flushed and fsynced); raises OSError if the disk refuses."""
        entry = JournaledPayment(user_id, charge_id, payload, currency, total_amount, time.time())
        async with self._lock:
            await asyncio.to_thread(self._append_sync, entry.to_line())
        return entry

    async def entries(self) -> list[JournaledPayment]:
        async with self._lock:
            return await asyncio.to_thread(self._read_sync)

    async def remove(self, charge_ids: Collection[str]) -> None:
        """Drop the entries of these charge ids (all copies); entries appended meanwhile stay."""
        if not charge_ids:
            return
        async with self._lock:
            await asyncio.to_thread(self._remove_sync, frozenset(charge_ids))

    def exists(self) -> bool:
        return self.path.exists()

    # --- blocking file work (run in a thread) ---

    def _append_sync(self, line: str) -> None:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = line.encode("utf-8")
        with self.path.open("a+b") as file:
            end = file.seek(0, os.SEEK_END)
            if end > 0:
                # A torn last line (crash mid-append) has no newline: never glue a new entry to it.
                file.seek(end - 1)
                if file.read(1) != b"\n":
                    data = b"\n" + data
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if created:
            # The new file's directory entry must be on disk too, or a crash could lose the file.
            _fsync_directory(self.path.parent)

    def _read_sync(self) -> list[JournaledPayment]:
        try:
            text = self.path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        entries: list[JournaledPayment] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(JournaledPayment.from_line(line))
            except (ValueError, KeyError, TypeError):
                log.warning("%s line %d is not a journal entry (torn write?); skipped", self.path, number)
        return entries

    def _remove_sync(self, charge_ids: frozenset[str]) -> None:
        kept = [entry for entry in self._read_sync() if entry.charge_id not in charge_ids]
        if not kept:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            _fsync_directory(self.path.parent)
            return
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("w", encoding="utf-8") as file:
            file.writelines(entry.to_line() for entry in kept)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, self.path)
        _fsync_directory(self.path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
