"""A wall-clock timeout that really stops pure-Python work (sympy's `simplify`, a long fit).

The reference code wrapped `curve_fit` in a thread pool with `result(timeout=20)`; the `with` block still waited
for the thread, so nothing was ever stopped (spec bug B12). A thread cannot be killed in Python, so we use the
one mechanism that interrupts running Python code: SIGALRM from an interval timer, whose handler raises inside
the running function.

Limits (by design of signals):
- Only the main thread of a process may set signal handlers. That is where the pipeline runs (the main process,
  or a joblib/loky worker process, whose tasks run in its main thread). Called from any other thread, or on a
  platform without SIGALRM, `call_with_timeout` runs `fn` to completion **without a timeout**.
- The handler runs between Python bytecodes, so a single long C call (one huge numpy operation, a big-integer
  multiplication) is interrupted only when it returns. sympy is pure Python, so `simplify` stops promptly.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from typing import Any, Callable, TypeVar

__all__ = ["call_with_timeout", "timeout_supported"]

T = TypeVar("T")

# Once expired, the alarm is re-fired at this period, so code that swallows the first interrupt with a bare
# `except:` (sympy has a few) is interrupted again until it gives up.
_REFIRE_S = 0.05


class _Expired(BaseException):
    """Raised by our alarm handler. A BaseException, so `except Exception:` in the callee does not swallow it."""

    def __init__(self, token: object = None) -> None:  # a default: a leaked one unpickles in the parent process
        super().__init__()
        self.token = token


#: What a caller of `call_with_timeout` treats as "out of time": the TimeoutError it raises, and an alarm of a
#: nested call that leaked past it (rare; without this it would end a whole task set from a worker process).
TIME_LIMIT_ERRORS = (TimeoutError, _Expired)


def timeout_supported() -> bool:
    """True when `call_with_timeout` can enforce its limit here (main thread, SIGALRM available)."""
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


def call_with_timeout(fn: Callable[..., T], seconds: float | None, *args: Any, **kwargs: Any) -> T:
    """Return `fn(*args, **kwargs)`, or raise `TimeoutError` once `seconds` of wall time have passed.

    `seconds=None` (or inf) means no limit; `seconds <= 0` raises at once without calling `fn`.
    Uses SIGALRM + `setitimer`; any previous SIGALRM handler and timer are restored afterwards, and an outer
    `call_with_timeout` (or any other ITIMER_REAL user) keeps its own deadline: if the outer deadline comes
    first, the outer handler is called. Outside the main thread, or without SIGALRM, there is no timeout
    (see the module docstring).
    """
    if seconds is None or math.isinf(seconds):
        return fn(*args, **kwargs)
    if not seconds > 0:  # also catches nan
        raise TimeoutError(f"timeout of {seconds} s already expired")
    if not timeout_supported():
        return fn(*args, **kwargs)

    token = object()
    # outer_due: the outer deadline has passed; outer_fired: we called the outer (Python) handler for it
    state = {"active": True, "outer_due": False, "outer_fired": False}
    now = time.monotonic()
    deadline = now + seconds
    old_handler = signal.getsignal(signal.SIGALRM)
    old_delay, old_interval = signal.getitimer(signal.ITIMER_REAL)
    outer_deadline = now + old_delay if old_delay > 0 else math.inf

    def rearm() -> None:
        nxt = deadline if state["outer_due"] else min(deadline, outer_deadline)
        signal.setitimer(signal.ITIMER_REAL, max(nxt - time.monotonic(), 1e-6), _REFIRE_S)

    def handler(signum: int, frame: Any) -> None:
        if not state["active"]:
            return
        t = time.monotonic() + 1e-3  # timers may fire a hair early against the monotonic clock
        if not state["outer_due"] and t >= outer_deadline and outer_deadline <= deadline:
            # The outer timer was due first: let its owner act (usually: raise its own exception). A default
            # or ignored disposition is re-armed for after our call instead (see `finally`).
            state["outer_due"] = True
            if callable(old_handler):
                state["outer_fired"] = True
                old_handler(signum, frame)
            rearm()  # the outer handler returned: keep our own deadline
            return
        if t >= deadline:
            raise _Expired(token)
        rearm()

    signal.signal(signal.SIGALRM, handler)
    try:
        rearm()
        return fn(*args, **kwargs)
    except _Expired as exc:
        if exc.token is not token:  # a nested call's alarm leaked out: not ours to handle
            raise
        raise TimeoutError(f"{getattr(fn, '__name__', 'call')} exceeded {seconds:g} s") from None
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        # None: the previous handler was not installed from Python; the default is the closest we can restore
        signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
        if old_delay > 0:
            if not state["outer_fired"]:
                # An outer deadline that passed while we ran fires (almost) at once.
                signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 1e-6), old_interval)
            elif old_interval > 0:
                signal.setitimer(signal.ITIMER_REAL, old_interval, old_interval)
