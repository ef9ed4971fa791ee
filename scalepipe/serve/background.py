"""Work kept off the request path: a daemon thread that flushes every few seconds."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("scalepipe.serve")


class PeriodicFlush:
    """Calls flush() every `seconds` in a daemon thread, and a last time at close()."""

    def __init__(self, name: str, seconds: float) -> None:
        self._name = name
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        """Start flushing (in the process that serves: threads do not survive a fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self.flush()
            except Exception:  # a full disk must not take the server down
                log.exception("%s: flushing failed; will try again", self._name)
