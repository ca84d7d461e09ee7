"""The benchmark (LIES-61 x trials, Table I's ablations, noise levels) with its report, and the peers it measures
on the same samples: the log-linear baseline, Operon, gplearn."""
