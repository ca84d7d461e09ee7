"""lies: symbolic regression with LIES networks (Log, Identity, Exp, Sine).

The library is pure math and models; file layout lives in `lies.artifacts`, `lies.stages` and the DVC shims
under `stages/`.
"""

from lies.errors import LiesError

__version__ = "0.1.0"

__all__ = ["LiesError", "__version__"]
