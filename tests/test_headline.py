"""BENCHMARKS.md's headline is rebuilt from benchmark folders (`lies.bench.headline`)."""

import pandas as pd
import pytest

from lies.bench.headline import END, START, headline, method_table, load_run, write_headline
from lies.core.errors import LiesError
from lies.core.files import write_frame


def _folder(tmp_path):
    # I.12.1 (mu Nn) is a product of powers; I.12.11 (q (Ef + B v sin(theta))) is neither, and trigonometric
    rows = [dict(task="I.12.1-t0", equation="I.12.1", space="log", symbolic_solution=True,
                 symbolic_solution_positive=True, r2_test=1.0, seconds_total=10.0),
            dict(task="I.12.11-t0", equation="I.12.11", space="raw", symbolic_solution=False,
                 symbolic_solution_positive=True, r2_test=0.98, seconds_total=30.0)]
    folder = tmp_path / "lies61"
    folder.mkdir()
    write_frame(folder / "results.csv", pd.DataFrame(rows))
    write_frame(folder / "results_loglinear.csv", pd.DataFrame([{**rows[0], "symbolic_solution": False},
                                                                 {**rows[1], "r2_test": 0.5}]))
    write_frame(folder / "results_without_oversampling.csv", pd.DataFrame(rows))  # an ablation: not a peer
    (folder / "report.md").write_text("Command: `lies benchmark --set x`\nMachine: m\nDate: 2026-12-04\nCode: abc1234\n")
    return folder


def test_a_run_becomes_one_row_per_method_split_by_shape_space_and_trigonometry(tmp_path):
    run = load_run(_folder(tmp_path))
    assert list(run.methods) == ["LIES", "loglinear"]
    table = method_table(run).set_index("method")
    lies = table.loc["LIES (this pipeline)"]
    assert lies["SSR %"] == 50.0 and lies["SSR % positive symbols"] == 100.0
    assert lies["prod. of powers"] == "100.0 (1/1)" and lies["other"] == "0.0 (0/1)"
    assert lies["raw space"] == "0/1" and lies["trigonometric"] == "0/1"
    assert lies["R2>0.99 %"] == 50.0 and lies["median s/task"] == 20.0
    assert table.loc["loglinear", "SSR %"] == 0.0 and table.loc["loglinear", "R2>0.99 %"] == 50.0


def test_the_headline_replaces_only_what_stands_between_the_markers(tmp_path):
    target = tmp_path / "BENCHMARKS.md"
    target.write_text(f"# Benchmarks\n\n{START}\nold table\n{END}\n\n## Method\nkept\n")
    write_headline(target, headline([_folder(tmp_path)]))
    text = target.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\n") and text.endswith("## Method\nkept\n")
    assert "2026-12-04, code abc1234" in text and "| LIES (this pipeline) | 2 | 50.0 |" in text
    target.write_text("# no markers\n")
    with pytest.raises(LiesError, match="no headline markers"):
        write_headline(target, "x")


def test_a_folder_that_records_mechanisms_gets_its_ssr_by_mechanism_and_an_older_one_none(tmp_path):
    old = headline([_folder(tmp_path)])  # results.csv without a mechanism column: no table
    assert "SSR by mechanism" not in old
    folder = tmp_path / "lies61"
    rows = [{**r, "mechanism": m} for r, m in zip(pd.read_csv(folder / "results.csv").to_dict("records"),
                                                   ["scan", "decomposition"])]
    write_frame(folder / "results.csv", pd.DataFrame(rows))
    text = headline([folder])
    assert "SSR by mechanism" in text
    assert "| decomposition | 1 | 0 | 0.0 | 0.0 |" in text and "| scan | 1 | 1 | 100.0 | 100.0 |" in text
