"""The demo's terminal: a short account of each step, everything else into a log file.

Airflow (``dag.test()``), its task logs, SIPp and the peers write to stdout/stderr at will. The
demo points file descriptors 1 and 2 at ``var/demo/demo.log`` while it works, so that records
from any library or child process land there, and writes its own lines to a duplicate of the
terminal taken before the switch. Hand-written because logging handlers alone miss child
processes and libraries that configure their own handlers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Console:
    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self._terminal: int | None = None

    def say(self, line: str = "") -> None:
        """One line for the person at the terminal (never into the log)."""
        data = (line + "\n").encode()
        if self._terminal is None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        else:
            os.write(self._terminal, data)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Send fds 1 and 2 (and Python's sys.stdout/stderr) to the log file meanwhile."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        self._terminal = os.dup(1)
        with open(self.log_file, "ab", buffering=0) as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in (*saved, self._terminal):
                    os.close(fd)
                self._terminal = None
