"""`benchmarks/matmul_orientation.py`: both forms compute the same product,
and the table and JSON report every shape with its ratio."""

import json

import numpy as np
import tensorflow as tf

from nlp_lstm.layers import linear
from tests.helpers import load_benchmark


def load_script():
    return load_benchmark("matmul_orientation")


def test_times_transposed_is_the_product_by_the_kernel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7)).astype("float32")
    kernel = rng.normal(size=(7, 3)).astype("float32")
    found = linear.times_transposed(tf.constant(x), tf.constant(kernel.T))
    np.testing.assert_allclose(found.numpy(), x @ kernel, rtol=1e-5, atol=1e-5)


def test_the_report_has_every_shape_and_its_ratio(tmp_path, monkeypatch, capsys):
    script = load_script()
    monkeypatch.setattr(
        script, "SHAPES",
        ((4, 6, 8, "a cell", "transposed"), (3, 5, 16, "a projection", "plain")),
    )
    assert script.main(["--output", str(tmp_path), "--repeats", "1"]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    rows = report["rows"]
    assert [(r["rows"], r["k"], r["n"]) for r in rows] == [(4, 6, 8), (3, 5, 16)]
    for row in rows:
        assert row["plain_ms"] > 0 and row["transposed_ms"] > 0
        expected = 2 * row["rows"] * row["k"] * row["n"] / row["plain_ms"] / 1e6
        assert np.isclose(row["plain_gflops"], expected)
    table = (tmp_path / "results.md").read_text()
    assert "| 4 x 6 x 8 | a cell |" in table and "| plain |" in table
    assert table.strip() in capsys.readouterr().out
