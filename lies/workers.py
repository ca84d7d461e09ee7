"""Worker processes that end with the process that started them.

joblib's loky workers outlive a parent killed by SIGKILL (or OOM-killed): the busy ones finish their job and
they all idle for minutes before loky's timeout, holding memory and cores. A worker started through
`call_in_worker` watches its parent and exits as soon as it is gone (the kernel then gives it a new parent).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

#: Seconds between two looks at the parent.
POLL_SECONDS = 0.5

_watched: set[int] = set()


def exit_with_parent(parent: int) -> None:
    """In a process whose parent is ``parent``, start (once) a daemon thread that exits the process when the
    parent dies. In ``parent`` itself (work run in-process) it does nothing."""
    if os.getpid() == parent or parent in _watched or os.getppid() != parent:
        return
    _watched.add(parent)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)  # no cleanup to wait for: the results have nobody to go to

    threading.Thread(target=watch, name="lies-exit-with-parent", daemon=True).start()


def call_in_worker(parent: int, fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in a joblib worker that exits with ``parent`` (pass ``os.getpid()`` of the caller)."""
    exit_with_parent(parent)
    return fn(*args)
