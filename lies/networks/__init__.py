"""One file per network kind on one base (`lies.networks.base.Network`): the LIES network of the paper
(`lies.networks.lies`) and Kim et al.'s EQL (`lies.networks.eql`); `lies.networks.extraction` reads any of them
back as a formula. The kinds are registered in `lies.training.kinds`. `lies.networks.surrogate` is no kind: a plain
perceptron of the data, the oracle decomposition may test through."""
