"""lies: symbolic regression with LIES networks (Log, Identity, Exp, Sine).

The folders are the layers, each importing only those below it (``tests/test_layers.py`` holds the contract):

    cli, estimator, inspection    front ends: the command line, the scikit-learn regressor, ``lies inspect``
    bench                         the benchmark, its report, the peers and the log-linear baseline
    pipeline                      stages, their typed artifacts on disk, the engine that runs them, evaluation
    training                      ADMM, Algorithm 1, pruning, the exp-log motifs, the network kinds' registry
    networks                      one file per network kind (LIES, EQL) on one base; read-back as sympy
    data                          datasets, CSVs, the AI-Feynman table, the data transform, task specs
    symbolic                      formulas, SRBench's check and R^2, rounding, coefficient refits
    params                        every parameter, declared once
    core                          errors, random streams, input checks, files, time limits
"""

from lies.core.errors import LiesError

__version__ = "0.1.0"

__all__ = ["LiesError", "__version__"]
