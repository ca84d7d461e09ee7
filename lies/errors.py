"""The one exception type for user mistakes.

A `LiesError` is something the user can fix (a typo in params, a missing column, a bad value); the command
line prints its message as a single line and exits with code 2, without a traceback. Anything else is a bug.
It is a `ValueError`, the type scikit-learn (and Python) expect for a bad argument value.
"""


class LiesError(ValueError):
    """A user-facing error: printed as one line, exit code 2."""


class LiesTypeError(LiesError, TypeError):
    """A LiesError about the type of an input (text where numbers belong): also the TypeError Python would raise."""


def did_you_mean(word: object, choices) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``: the hint every typo message carries."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
