"""An import's progress while it runs, where the upload page can read it.

Not on the job row: the import writes in ONE database transaction, and on SQLite that transaction holds the
database's only write lock until the end, so a progress update to the job row would wait for the import it
reports on. Progress goes to the task queue's key-value store instead (huey: the SQLite queue file locally,
the queue's PostgreSQL tables or Redis in production), which every web and worker process already shares,
and which the import's transaction does not lock. A heartbeat keeps it fresh while the import runs, so the
periodic check can tell a running import from one whose worker died.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import IO

from huey.contrib.djhuey import HUEY

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20
# Reading the file publishes at most this often.
PUBLISH_EVERY_SECONDS = 0.5


def _key(job_id: int) -> str:
    return f"loyalty:import-progress:{job_id}"


@dataclass
class Snapshot:
    bytes_read: int = 0
    bytes_total: int = 0
    rows_read: int = 0
    updated: float = 0.0  # time.time() of the last sign of life

    @property
    def fraction(self) -> float | None:
        if not self.bytes_total:
            return None
        return min(self.bytes_read / self.bytes_total, 1.0)


def read(job_id: int) -> Snapshot | None:
    try:
        stored = HUEY.get(_key(job_id), peek=True)
    except Exception:  # the page shows "no progress yet" rather than failing
        logger.warning("import progress of job %s could not be read", job_id, exc_info=True)
        return None
    return Snapshot(**stored) if isinstance(stored, dict) else None


class Reporter:
    """Publishes one running import's progress: bytes read (from the file as the importer reads it), rows read
    (from the importer's progress callback), and a heartbeat while the import runs."""

    def __init__(self, job_id: int, bytes_total: int) -> None:
        self.job_id = job_id
        self.snapshot = Snapshot(bytes_total=bytes_total)
        self._last_published = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name=f"import-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> Reporter:
        self.publish()
        self._heartbeat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._heartbeat.join(timeout=5)
        try:
            HUEY.delete(_key(self.job_id))
        except Exception:
            logger.warning("import progress of job %s could not be removed", self.job_id, exc_info=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.publish()

    def publish(self) -> None:
        with self._lock:
            self.snapshot.updated = time.time()
            self._last_published = time.monotonic()
            snapshot = asdict(self.snapshot)
        try:
            HUEY.put(_key(self.job_id), snapshot)
        except Exception:  # progress is for the page: never let it stop an import
            logger.warning("import progress of job %s could not be written", self.job_id, exc_info=True)

    def bytes_read(self, count: int) -> None:
        self.snapshot.bytes_read = count
        if time.monotonic() - self._last_published >= PUBLISH_EVERY_SECONDS:
            self.publish()

    def rows(self, update) -> None:
        """The importer's progress callback (transactions.importing.ImportProgress)."""
        self.snapshot.rows_read = update.rows_read
        self.publish()

    def reader(self, stream: IO[bytes]) -> io.RawIOBase:
        return _ReportingReader(stream, self)


class _ReportingReader(io.RawIOBase):
    """The spooled file as the importer reads it, counting bytes. `fileno()` is the file's, so the importer
    can still learn the file's size."""

    def __init__(self, stream: IO[bytes], reporter: Reporter) -> None:
        self._stream = stream
        self._reporter = reporter
        self._count = 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._count += size
        self._reporter.bytes_read(self._count)
        return size
