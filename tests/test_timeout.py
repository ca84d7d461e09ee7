"""lies.core.timeout: SIGALRM timeouts that really stop Python work and leave no trace behind."""

import signal
import threading
import time

import pytest
import sympy

from lies.core.timeout import call_with_timeout, timeout_supported

pytestmark = pytest.mark.skipif(not timeout_supported(), reason="needs SIGALRM in the main thread")


@pytest.fixture(autouse=True)
def _no_leftover_alarm():
    before = signal.getsignal(signal.SIGALRM)
    yield
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before


def _busy_forever():
    while True:
        pass


def test_returns_result_and_passes_arguments():
    assert call_with_timeout(lambda a, b=0: a + b, 1.0, 2, b=3) == 5


def test_no_limit_and_expired_limit():
    assert call_with_timeout(lambda: 7, None) == 7
    called = []
    with pytest.raises(TimeoutError):
        call_with_timeout(called.append, 0, 1)
    assert called == []


def test_interrupts_a_busy_python_loop():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(_busy_forever, 0.1)
    assert time.monotonic() - t0 < 1.0


def test_interrupts_sleep():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(time.sleep, 0.1, 5)
    assert time.monotonic() - t0 < 1.0


def test_callee_swallowing_exceptions_is_still_stopped():
    def stubborn():
        try:
            _busy_forever()
        except Exception:  # does not catch the alarm (a BaseException)
            pass
        try:
            _busy_forever()
        except BaseException:  # catches the first alarm; the re-fired one ends the second loop
            pass
        _busy_forever()

    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(stubborn, 0.1)
    assert time.monotonic() - t0 < 1.0


def test_stops_a_pathological_simplify():
    x, y, z = sympy.symbols("x y z")
    expr = sum(sympy.sin(x + i * y) ** 3 * sympy.cos(z * i + x) ** 2 for i in range(1, 8))  # ~100 s uncut
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(sympy.simplify, 0.2, expr)
    assert time.monotonic() - t0 < 2.0


def test_exception_of_callee_propagates():
    def boom():
        raise KeyError("k")

    with pytest.raises(KeyError):
        call_with_timeout(boom, 1.0)


def test_restores_previous_handler_and_timer():
    seen = []

    def previous(signum, frame):
        seen.append(signum)

    old = signal.signal(signal.SIGALRM, previous)
    try:
        signal.setitimer(signal.ITIMER_REAL, 10.0)
        assert call_with_timeout(lambda: 1, 1.0) == 1
        with pytest.raises(TimeoutError):
            call_with_timeout(_busy_forever, 0.05)
        assert signal.getsignal(signal.SIGALRM) is previous
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 8.0 < remaining <= 10.0
        assert seen == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_nested_inner_timeout_leaves_outer_running():
    def outer():
        with pytest.raises(TimeoutError):
            call_with_timeout(_busy_forever, 0.05)
        return "outer done"

    assert call_with_timeout(outer, 5.0) == "outer done"


def test_nested_outer_deadline_wins_over_longer_inner():
    def outer():
        call_with_timeout(_busy_forever, 5.0)  # the outer 0.1 s must still stop this

    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(outer, 0.1)
    assert time.monotonic() - t0 < 1.0


def test_outside_main_thread_runs_without_timeout():
    result = {}

    def work():
        result["value"] = call_with_timeout(lambda: (time.sleep(0.15), "finished")[1], 0.01)
        result["supported"] = timeout_supported()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert result == {"value": "finished", "supported": False}


def test_outer_python_handler_due_first_is_called_and_inner_deadline_kept():
    seen = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: seen.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            call_with_timeout(_busy_forever, 0.2)
        assert seen == [signal.SIGALRM]  # the outer alarm was delivered to its owner, once
        assert 0.15 < time.monotonic() - t0 < 1.0
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # one-shot outer timer: already spent
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
