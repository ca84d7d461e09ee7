"""The one exception type for user mistakes.

A `LiesError` is something the user can fix (a typo in params, a missing column, a bad value); the command
line prints its message as a single line and exits with code 2, without a traceback. Anything else is a bug.
"""


class LiesError(Exception):
    """A user-facing error: printed as one line, exit code 2."""
