"""Training and sparsifying networks: the losses (eq. 12-14), ADMM (eq. 4-9), Algorithm 1 (oversampling),
Theorem 2 and node pruning, the exp-log motif candidates, and the registry of network kinds."""
