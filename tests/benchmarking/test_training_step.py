"""`benchmarks/training_step.py`: the peers' steps from a `bench.sh` summary
and the table of checkouts against each other and the faster peer."""

import json

from tests.helpers import load_benchmark


def load_script():
    return load_benchmark("training_step")


def test_peer_steps_are_a_batch_of_tokens_over_the_peer_s_tokens_per_second(tmp_path):
    summary = {
        "batch": 64,
        "tokens_per_pair": 30.0,
        "rows": [
            {"peer": "OpenNMT-py", "tok_s_peer": 6400.0, "ok": True},
            {"peer": "OpenNMT-tf", "tok_s_peer": 4800.0, "ok": True},
            {"peer": "broken", "tok_s_peer": None, "ok": False},
        ],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    steps = load_script().peer_steps(str(tmp_path))
    assert steps == {"OpenNMT-py": 0.3, "OpenNMT-tf": 0.4}


def test_the_table_takes_medians_of_rounds_and_ratios_to_the_first_code():
    """Ratios are of time per real token (the checkouts' batches can hold
    pairs of different lengths); the peers' column compares a batch of the
    average pair (`average_batch_s`), else the median step."""
    def run(label, seconds, tokens_per_s, average=None):
        result = {"task": "translator", "label": label, "median_step_s": seconds,
                  "tokens_per_s": tokens_per_s, "batch_tokens": 30.0}
        if average is not None:
            result["average_batch_s"] = average
        return result

    rounds = ((0.30, 100.0), (0.50, 90.0), (0.33, 110.0))
    runs = [run("new", s, t, 0.25) for s, t in rounds]
    runs += [run("old", s, 80.0) for s in (0.40, 0.44, 0.45)]
    lines = load_script().table(runs, {"peer": 0.3}).splitlines()
    new = next(line for line in lines if "| new |" in line)
    old = next(line for line in lines if "| old |" in line)
    assert "| 300.0 / 500.0 / 330.0 |" in new
    assert "| 100 | 250.0 | 1.00 | 0.83 |" in new
    assert "| 80 | 440.0 | 1.25 | 1.47 |" in old
    assert any("| peer (its log) |" in line and "300.0" in line for line in lines)


def test_each_checkout_is_timed_in_each_precision_under_its_own_label():
    script = load_script()
    checkouts = [("new", "/a", ()), ("old", "/b", ("x=1",))]
    assert script.with_precisions(checkouts, ["float32"]) == [
        ("new", "/a", "float32", ()), ("old", "/b", "float32", ("x=1",)),
    ]
    assert script.with_precisions(checkouts, ["float32", "bfloat16"]) == [
        ("new, float32", "/a", "float32", ()),
        ("new, bfloat16", "/a", "bfloat16", ()),
        ("old, float32", "/b", "float32", ("x=1",)),
        ("old, bfloat16", "/b", "bfloat16", ("x=1",)),
    ]


def test_its_tasks_are_the_profiles_tasks():
    """`training_step.py` keeps its own task list (its parent process does
    not import TensorFlow, which `profile_training.py` does at the top); each
    of them must be one that `profile_training.task_config` builds."""
    assert load_script().TASKS == load_benchmark("profile_training").TASKS


def test_the_profile_puts_each_op_where_it_ran():
    """`profile_training.place`: the towers' scopes count as one, the
    hand-written backward loops (no layer scope) apart from the forward ones,
    and the executor's own events left out."""
    place = load_benchmark("profile_training").place
    names = {
        "decoder_1/while/body/_1/decoder_1/while/MatMul_2:_MklMatMul": (
            "decoder loop", "matmul"),
        "encoder/while/body/_3/encoder/while/Sigmoid:Sigmoid": (
            "encoder loops", "other"),
        "while/body/_12/while/mul_4:Mul": ("backward loops", "other"),
        "output_projection/BiasAdd:_MklNativeFusedMatMul": (
            "outside the loops", "matmul"),
        "Exp:Exp": ("outside the loops", "other"),
        "Process": None,
        "ExecutorState::Process": None,
    }
    assert {name: place(name) for name in names} == names
    op_type = load_benchmark("profile_training").op_type
    assert [op_type(name) for name in ("Exp:Exp", "ExecutorState::Process")] == [
        "Exp", None]
