"""The one exception type for user mistakes, and the wording every message shares.

A `LiesError` is something the user can fix (a typo in params, a missing column, a bad value); the command
line prints its message as a single line and exits with code 2, without a traceback. Anything else is a bug.
It is a `ValueError`, the type scikit-learn (and Python) expect for a bad argument value.
"""

from __future__ import annotations

from typing import Iterable


class LiesError(ValueError):
    """A user-facing error: printed as one line, exit code 2."""


class LiesTypeError(LiesError, TypeError):
    """A LiesError about the type of an input (text where numbers belong): also the TypeError Python would raise."""


class FormulaTextError(LiesError):
    """Stored or given formula text that is not a formula expression (code, attribute access, unknown names):
    refused without running any of it (`lies.symbolic.formula.parse_srepr`, `lies.symbolic.formula.parse_formula`)."""


def did_you_mean(word: object, choices: Iterable[object], n: int = 1) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` (up to ``n`` of them, and any that differ from
    ``word`` only in case first), or ``""``: the hint every typo message carries."""
    import difflib

    word, choices = str(word), [str(c) for c in choices]
    close = difflib.get_close_matches(word, choices, n=n)
    close = [c for c in choices if c.lower() == word.lower() and c not in close] + close
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none), for a one-line error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
