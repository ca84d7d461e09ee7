import numpy as np
import pytest
import torch

from lies.networks.activations import EXP, IDENTITY, LOG, SIN, cutoff_violation, lies_activation
from lies.networks.base import add_constant_column, output_unit
from lies.networks.lies import LiesNetwork
from lies.training.losses import mask_loss
from lies.training.pruning import gradient_prune, output_sensitivity, refit_weights, remove_dead_units


def _net_with(entries, n=2):
    net = LiesNetwork(n, 1, dtype=torch.float64)
    with torch.no_grad():
        net.flat.zero_()
        for name, index, value in entries:
            net.view(net.flat, name)[(0, *index)] = value
    return net


def _inputs(n=2, rows=200, seed=0):
    rng = np.random.default_rng(seed)
    return add_constant_column(torch.tensor(rng.uniform(0, 1, (rows, n))))[None]


def test_sensitivity_is_weight_times_output_gradient_per_sample():
    net = _net_with([("output", (0, 0), 2.0), ("output", (0, 1), 1e-4)])
    x = _inputs()
    score = net.view(output_sensitivity(net, x), "output")[0, 0]
    # O = 2 x0 + 1e-4 x1: |w dO/dw| = |w x| per sample, maximised over samples
    assert torch.allclose(score[0], 2.0 * x[0, :, 0].max())
    assert torch.allclose(score[1], 1e-4 * x[0, :, 1].max())


def test_negligible_weight_pruned_significant_kept():
    net = _net_with([("output", (0, 0), 2.0), ("output", (0, 1), 1e-4), ("output", (0, 2), 0.5)])
    nonzero_before = net.flat != 0
    pruned = gradient_prune(net, _inputs(), threshold=0.01)
    out = net.weight("output")[0, 0]
    assert out[0] == 2.0 and out[2] == 0.5 and out[1] == 0.0
    assert int((pruned & nonzero_before).sum()) == 1


def test_quantile_ignores_a_few_outlying_samples():
    net = _net_with([("output", (0, 0), 0.005)])
    x = _inputs(rows=100)
    x[0, :, 0] = 1.0
    x[0, 0, 0] = 10.0  # one sample where the weight matters (0.05 > 0.01)
    assert net.view(output_sensitivity(net, x), "output")[0, 0, 0] > 0.01
    assert net.view(output_sensitivity(net, x, quantile=0.9), "output")[0, 0, 0] < 0.01


def test_dead_units_lose_their_edges():
    n = 1
    # I0 feeds nothing; E0 has no gate; S0 has no input (sin(0) = 0); L0 is read by the output
    net = _net_with(
        [
            ("layer0", (IDENTITY, 0), 1.0), ("gates", (0, IDENTITY), 1.0),
            ("layer0", (EXP, 0), 1.0), ("output", (0, 2 + EXP), 1.0),
            ("gates", (0, SIN), 1.0), ("output", (0, 2 + SIN), 1.0),
            ("layer0", (LOG, 1), 2.0), ("gates", (0, LOG), 1.0), ("output", (0, 2 + LOG), 1.0),
        ],
        n=n,
    )
    before = net(_inputs(n)).y.clone()
    remove_dead_units(net)
    w = net.weight("layer0")[0]
    assert w[IDENTITY].abs().sum() == 0 and w[EXP].abs().sum() == 0
    out = net.weight("output")[0, 0]
    assert out[2 + EXP] == 0 and out[2 + SIN] == 0 and out[2 + LOG] == 1.0
    assert torch.allclose(net(_inputs(n)).y, before)  # removing dead units never changes the output


def test_pruned_weights_are_masked_for_good():
    net = _net_with([("output", (0, 0), 1.0), ("output", (0, 1), 1e-5)])
    gradient_prune(net, _inputs())
    assert net.view(net.mask, "output")[0, 0, 1] == 0


def _log_space_data(fn, n=2, rows=1000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 5, (rows, n))
    z = np.log(X) / np.log(5)
    x = add_constant_column(torch.tensor(z, dtype=torch.float32))[None]
    t = torch.tensor(np.log(fn(X)), dtype=torch.float32)[None]
    return x, t


def test_node_pruning_removes_a_unit_that_only_duplicates_a_direct_edge():
    from lies.training.pruning import prune_nodes_with_refit

    x, t = _log_space_data(lambda X: X[:, 0] * X[:, 1])
    s = np.log(5)
    # ln y = s z0 + s z1, half of the z0 term carried by a sine unit (sin u ~ u for small u)
    net = LiesNetwork(2, 1)
    with torch.no_grad():
        net.flat.zero_()
        for name, index, value in [("output", (0, 0), s / 2), ("output", (0, 1), s), ("layer0", (SIN, 0), 0.1),
                                   ("gates", (0, SIN), 1.0), ("output", (0, 3 + SIN), 5 * s)]:
            net.view(net.flat, name)[(0, *index)] = value
    records = prune_nodes_with_refit(net, x, t, iterations=50)
    assert records[0]["units"] == ["S0"] and records[0]["accepted"]
    assert records[0]["error_before"] is None  # the linear fit is within slack on its own: no baseline refit
    assert net.nonzero_counts()[0]["gates"] == 0
    w = net.weight("output")[0, 0]
    assert torch.allclose(w[:3], torch.tensor([s, s, 0.0], dtype=w.dtype), atol=1e-3)  # refit as a power product


def test_the_no_hidden_unit_hypothesis_is_its_own_switch():
    """``linear_hypothesis``: all hidden units are first tried at once (a product of powers, fitted exactly);
    without it, units are tried one at a time only."""
    from lies.training.pruning import prune_nodes_with_refit

    x, t = _log_space_data(lambda X: X[:, 0] * X[:, 1])
    s = np.log(5)
    entries = [("output", (0, 0), s / 2), ("output", (0, 1), s / 2), ("layer0", (SIN, 0), 0.1),
               ("gates", (0, SIN), 1.0), ("output", (0, 3 + SIN), 5 * s), ("layer0", (IDENTITY, 1), 1.0),
               ("gates", (0, IDENTITY), 1.0), ("output", (0, 3 + IDENTITY), s / 2)]
    units = []
    for hypothesis in (True, False):
        net = LiesNetwork(2, 1)
        with torch.no_grad():
            net.flat.zero_()
            for name, index, value in entries:
                net.view(net.flat, name)[(0, *index)] = value
        records = prune_nodes_with_refit(net, x, t, iterations=50, linear_hypothesis=hypothesis)
        units.append([sorted(r["units"]) for r in records])
        assert net.nonzero_counts()[0]["gates"] == 0  # either way both units go
    assert units[0] == [["I0", "S0"]]
    assert all(len(u) == 1 for u in units[1]) and sorted(u[0] for u in units[1]) == ["I0", "S0"]


def _gaussian_with_exp_unit(exp_weight: float, read_weight: float, direct_weight: float):
    """Data of y = exp(-x0^2 / 8) x1 in log space, and a network whose only unit is E0 = exp(exp_weight s z0) read
    with ``read_weight`` beside the direct edge z1 (weight ``direct_weight`` s); s = ln 5 is the input scale."""
    x, t = _log_space_data(lambda X: np.exp(-X[:, 0] ** 2 / 8) * X[:, 1], rows=2000)
    s = float(np.log(5))
    net = LiesNetwork(2, 1)
    with torch.no_grad():
        net.flat.zero_()
        net.view(net.flat, "layer0")[0, EXP, 0] = exp_weight * s
        net.view(net.flat, "gates")[0, 0, EXP] = 1.0
        net.view(net.flat, "output")[0, 0, 3 + EXP] = read_weight
        net.view(net.flat, "output")[0, 0, 1] = direct_weight * s
    return x, t, net, s


def test_node_pruning_keeps_a_unit_the_formula_needs():
    from lies.training.pruning import prune_nodes_with_refit

    # ln y = -x0^2 / 8 + ln x1: an exp unit computing x0^2 = exp(2 s z0), read with weight -1/8
    x, t, net, s = _gaussian_with_exp_unit(exp_weight=2.0, read_weight=-1 / 8, direct_weight=1.0)
    records = prune_nodes_with_refit(net, x, t, iterations=50)
    assert records[0]["units"] == ["E0"] and not records[0]["accepted"]
    assert records[0]["error_before"] < records[0]["error_after"]  # compared with the refitted baseline
    assert net.nonzero_counts()[0]["gates"] == 1


def test_refit_weights_moves_an_exp_unit_to_the_exact_square():
    """The refit must converge, not just improve: exp(1.0 s z) has to become exp(2 s z) for x0^2 (what a few
    RMSprop epochs could not do; the cause of the unrecovered Gaussian I.6.2a)."""
    from lies.training.pruning import _fit_error, refit_weights

    x, t, net, s = _gaussian_with_exp_unit(exp_weight=1.0, read_weight=-0.5, direct_weight=0.5)
    keep = (net.flat != 0) | (torch.arange(net.n_weights()) == net.layout["layer0"][0] + EXP * 3 + 2)  # + E0's "1"
    net.prune(keep)
    before = float(_fit_error(net, x, t)[0])
    refit_weights(net, x, t, iterations=100)
    assert before > 0.1 and float(_fit_error(net, x, t)[0]) < 1e-4
    assert net.weight("layer0")[0, EXP, 0].item() == pytest.approx(2 * s, rel=1e-3)
    assert net.nonzero_counts()[0]["total"] <= 6  # pruned weights stay zero


def test_refit_weights_keeps_weights_when_the_fit_turns_non_finite():
    from lies.training.pruning import refit_weights

    x, _ = _log_space_data(lambda X: X[:, 0] * X[:, 1])
    net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(0))
    start = net.flat.detach().clone()
    refit_weights(net, x, torch.full(x.shape[:2], float("nan")), iterations=5)
    assert torch.equal(net.flat.detach(), start)


def test_a_log_unit_that_leaves_its_range_between_the_rows_is_not_defined_over_the_box():
    from lies.training.pruning import defined_over_box, select_restart

    # rows on the diagonal x0 = x1: 0.5 + x0 - x1 is 0.5 on every row, and -0.5 at the box's corner (0, 1)
    diagonal = torch.linspace(0, 1, 50, dtype=torch.float64)[:, None].expand(-1, 2)
    x = add_constant_column(diagonal)
    shifted_log = [("layer0", (LOG, 0), 1.0), ("layer0", (LOG, 1), -1.0), ("layer0", (LOG, 2), 0.5),
                   ("gates", (0, LOG), 1.0), ("output", (0, 3 + LOG), 1.0)]
    safe_log = [("layer0", (LOG, 0), 1.0), ("layer0", (LOG, 1), 1.0), ("layer0", (LOG, 2), 0.5),
                ("gates", (0, LOG), 1.0), ("output", (0, 3 + LOG), 1.0)]
    gated_off = [*shifted_log[:3], ("output", (0, 0), 1.0)]  # the same log input, but its gate is 0: no effect
    net = LiesNetwork.stack([_net_with(shifted_log), _net_with(safe_log), _net_with(gated_off)])
    assert defined_over_box(net, x) == [False, True, True]
    # the undefined restart fits best and is smallest, yet the defined one is kept; with none defined, all compete
    assert select_restart([0.0, 0.5, 0.6], [4, 5, 5], defined=[False, True, False]) == 1
    assert select_restart([0.0, 0.5], [4, 5], defined=[False, False]) == 0
    assert select_restart([0.0, 0.5], [4, 5]) == 0


def test_free_exponents_counts_the_weights_from_variables_that_are_not_integer_powers():
    from lies.training.pruning import free_exponents

    scales = (2.0, 0.5)  # network inputs ln(v_k) / s_k: a raw exponent b is the weight b * s_k
    square_over = [("layer0", (EXP, 0), 2 * 2.0), ("layer0", (EXP, 1), -1 * 0.5), ("gates", (0, EXP), 1.0)]
    substitute = [("layer0", (EXP, 0), 1.44 * 2.0), ("layer0", (EXP, 1), -1 * 0.5), ("gates", (0, EXP), 1.0)]
    log_of_logs = [("layer0", (LOG, 0), 1.0), ("layer0", (LOG, 2), 3.0), ("gates", (0, LOG), 1.0)]
    gated_off = substitute[:2]  # the same weights behind a closed gate: no unit, nothing counted
    net = LiesNetwork.stack([_net_with(e) for e in (square_over, substitute, log_of_logs, gated_off)])
    assert free_exponents(net, scales) == [0, 1, 1, 0]
    assert free_exponents(net, scales, tolerance=0.5) == [0, 0, 1, 0]


def test_among_candidates_that_fit_alike_fewer_free_exponents_win_over_fewer_weights():
    from lies.training.pruning import select_restart

    # the second fits within the tolerance and has integer exponents: it is kept although it has more weights
    assert select_restart([1.0, 1.05], [4, 10], tolerance=0.1, free=[2, 0]) == 1
    assert select_restart([1.0, 1.05], [4, 10], tolerance=0.1) == 0
    # the rule only chooses among the candidates that fit: one outside the tolerance stays out
    assert select_restart([1.0, 2.0], [4, 10], tolerance=0.1, free=[2, 0]) == 0


def _sparse_network(seed: int, n: int = 3, models: int = 2) -> LiesNetwork:
    """A network like node pruning's input: negative and positive weights, about half of them masked, some gates 0."""
    g = torch.Generator().manual_seed(seed)
    net = LiesNetwork(n, models, generator=g)
    keep = torch.rand(net.flat.shape, generator=g) < 0.5
    keep[:, net.layout["output"][0]:] = True  # every output edge, so that the output depends on the units
    net.prune(keep)
    with torch.no_grad():
        net.flat.add_(torch.where(net.mask > 0, 0.0, torch.randn(net.flat.shape, generator=g)))  # stale values
    return net


def _reference_output(net: LiesNetwork, x: torch.Tensor, flat: torch.Tensor):
    """The forward pass as first written (weights masked twice, a bool mask of live units per layer): the refits
    must give the same bits as with it, so that node pruning's choices stay what they were."""
    flat = flat * net.mask
    masked = flat * net.mask
    features, violation = [x], x.new_zeros(x.shape[:2])
    gates = net.view(masked, "gates")
    for i in range(net.arch.n_layers):
        u = torch.cat(features, dim=-1) if i else x
        z = torch.bmm(u, net.view(masked, f"layer{i}").transpose(1, 2))
        violation = violation + cutoff_violation(z, net.x_l, net.x_e, live=gates[:, i, None, :] != 0)
        features.append(gates[:, i, None, :] * lies_activation(z, net.x_l, net.x_e))
    return output_unit(torch.cat(features, dim=-1), net.view(flat, "output")), violation


def _bits(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().numpy().tobytes()  # -0.0 and 0.0 differ here, unlike torch.equal


@pytest.mark.parametrize("seed", range(4))
def test_forward_and_its_gradient_are_bit_identical_to_the_reference(seed):
    net = _sparse_network(seed)
    x = add_constant_column(torch.rand(2, 300, 3, generator=torch.Generator().manual_seed(seed)) * 3 - 1)
    results = []
    for forward in (lambda f: net(x, f), lambda f: _reference_output(net, x, f)):
        flat = net.flat.detach().clone().requires_grad_(True)
        out = forward(flat)
        y, violation = (out.y, out.violation) if hasattr(out, "y") else out
        (g,) = torch.autograd.grad((y.square().mean(1) + mask_loss(violation)).sum(), flat)
        results.append([_bits(y), _bits(violation), _bits(g)])
    assert results[0] == results[1]


def _reference_refit(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor, iterations: int) -> torch.Tensor:
    """`refit_weights`'s L-BFGS with the closure as first written (zero_grad, then backward of the summed loss)."""
    flat = net.flat.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([flat], lr=1.0, max_iter=iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        optimizer.zero_grad()
        y, violation = _reference_output(net, x, flat)
        loss = ((y - t) ** 2).mean(dim=1) + mask_loss(violation)
        loss.sum().backward()
        return loss.sum()

    optimizer.step(closure)
    return flat.detach() * net.mask


@pytest.mark.parametrize("seed", range(3))
def test_refit_gives_the_bits_of_the_reference_refit(seed):
    net = _sparse_network(seed, models=1)
    x = add_constant_column(torch.rand(1, 400, 3, generator=torch.Generator().manual_seed(seed)) + 0.5)
    t = x[..., 0].log() * 2 - x[..., 1]
    expected = _reference_refit(net, x, t, 25)
    refit_weights(net, x, t, 25)
    assert torch.isfinite(expected).all() and _bits(net.flat) == _bits(expected)


def test_each_candidate_records_the_mechanism_that_made_it():
    """A restart whose linear hypothesis is accepted is "loglinear"; one that training left without hidden units
    (no trial ran) or whose units are tried one by one is "restart"."""
    from lies.params import NodePruningParams
    from lies.training.pruning import prune_restarts

    x, t = _log_space_data(lambda X: X[:, 0] * X[:, 1])
    s = np.log(5)
    duplicate = [("output", (0, 0), s / 2), ("output", (0, 1), s), ("layer0", (SIN, 0), 0.1),
                 ("gates", (0, SIN), 1.0), ("output", (0, 3 + SIN), 5 * s)]  # a sine unit carries half of z0
    powers = [("output", (0, 0), s), ("output", (0, 1), s)]  # x0 x1 already, no hidden unit
    net = LiesNetwork.stack([_net_with(duplicate), _net_with(powers)]).to(torch.float32)
    kept = []
    for hypothesis in (True, False):
        params = NodePruningParams(refit_iterations=50, linear_hypothesis=hypothesis)
        result = prune_restarts(net, x[0], t[0], params, seed=0)
        assert result.mechanisms == (["loglinear", "restart"] if hypothesis else ["restart", "restart"])
        kept.append(result.mechanism)
        assert result.mechanism == result.mechanisms[result.chosen]
    assert kept[1] == "restart"


def test_the_motif_candidate_is_the_scan_mechanism():
    """A sum inside a product that no restart fits: the exp-log motif candidate (the last one) is kept, "scan"."""
    from lies.data.transforms import Transform
    from lies.params import NodePruningParams
    from lies.training.pruning import prune_restarts

    X = np.random.default_rng(0).uniform(1, 5, (2000, 3))
    y = X[:, 0] / (1 + X[:, 1] / X[:, 2])
    tr = Transform.fit(X, y, ["a", "b", "c"], "y")
    x = add_constant_column(torch.tensor(tr.inputs(X), dtype=torch.float32))
    t = torch.tensor(tr.target(y), dtype=torch.float32)
    restart = _net_with([("output", (0, 0), 1.0)], n=3).to(torch.float32)  # a lone power of a: far from the data
    result = prune_restarts(restart, x, t, NodePruningParams(refit_iterations=20), seed=0, scales=tr.scales)
    assert result.candidates.n_models == 2 and result.mechanisms == ["restart", "scan"]
    assert result.chosen == 1 and result.mechanism == "scan"
