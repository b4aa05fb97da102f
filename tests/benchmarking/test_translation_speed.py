"""benchmarking.translation_speed: the peers' own timers and the report table."""

from nlp_lstm.benchmarking import translation_speed as speed


def test_peer_timers_are_read_as_bench_sh_reads_them(tmp_path):
    log = "INFO Total prediction time (s): 12.5\n"
    assert speed.peer_own_seconds("tf", log, "") == 12.5
    output = tmp_path / "out.pieces"
    output.write_text("▁a ▁b ▁c\n▁d\n")
    # OpenNMT-py: output tokens / its tokens-per-second.
    assert speed.peer_own_seconds("py", "Tokens per second: 2.0\n", str(output)) == 2.0
    assert speed.peer_own_seconds("py", "nothing", str(output)) is None


def test_peer_commands_take_the_last_checkpoint_by_step(tmp_path):
    run = tmp_path / "runs" / "m30k" / "onmt-py"
    run.mkdir(parents=True)
    for step in (500, 2000):
        (run / f"model_step_{step}.pt").write_bytes(b"")
    command = speed.peer_commands("py", str(run.parent), "beam", "in", "out", 2, 32)
    assert command[command.index("-model") + 1].endswith("model_step_2000.pt")
    assert command[command.index("-beam_size") + 1] == "5"
    assert command[command.index("-batch_size") + 1] == "32"


def test_table_has_a_column_per_system_and_dashes_for_gaps():
    rows = [
        {"system": "peer", "greedy": {"sentences_per_s_own": 100.0}, "beam": {}},
        {
            "system": "ours",
            "greedy": {
                "sentences_per_s_own": 250.5,
                "startup": {"import_s": 1.0, "load_s": 2.0, "first_call_s": 0.5},
            },
        },
    ]
    lines = speed.table(rows).splitlines()
    assert lines[0] == "| | peer | ours |"
    assert "| greedy sentences/s, own timer | 100.0 | 250.5 |" in lines
    assert "| beam-5 sentences/s, own timer | - | - |" in lines
    assert any("ours greedy start-up: import 1.00 s" in line for line in lines)


def _round(peer_own: float, ours_own: float, rss: float) -> list[dict]:
    return [
        {"system": speed.REFERENCE_PEER, "greedy": {"sentences_per_s_own": peer_own}},
        {
            "system": "ours",
            "greedy": {"sentences_per_s_own": ours_own, "rss_mb": rss, "output": "o"},
        },
    ]


def test_rounds_give_medians_and_ratios_to_the_peer_of_the_same_round():
    rounds = [_round(100.0, 150.0, 700.0), _round(200.0, 250.0, 720.0),
              _round(120.0, 240.0, 710.0)]
    peer, ours = speed.combine_rounds(rounds)
    assert peer["greedy"]["sentences_per_s_own"] == 120.0
    assert "sentences_per_s_own_ratio_rounds" not in peer["greedy"]
    assert ours["greedy"]["sentences_per_s_own"] == 240.0
    assert ours["greedy"]["sentences_per_s_own_rounds"] == [150.0, 250.0, 240.0]
    # Each round's ratio, not the ratio of the medians (2.0).
    assert ours["greedy"]["sentences_per_s_own_ratio_rounds"] == [1.5, 1.25, 2.0]
    assert ours["greedy"]["rss_mb"] == 710.0
    assert ours["greedy"]["output"] == "o"
    lines = speed.table([peer, ours]).splitlines()
    assert (
        "| greedy sentences/s, own timer | 120.0 (100.0 / 200.0 / 120.0) "
        "| 240.0 (150.0 / 250.0 / 240.0) |" in lines
    )
    assert (
        f"| greedy sentences/s, own timer / {speed.REFERENCE_PEER}'s | - "
        "| 1.50x (1.50 / 1.25 / 2.00) |" in lines
    )


def test_one_round_keeps_the_plain_table():
    peer, ours = speed.combine_rounds([_round(100.0, 150.0, 700.0)])
    lines = speed.table([peer, ours]).splitlines()
    assert "| greedy sentences/s, own timer | 100.0 | 150.0 |" in lines
    assert any(line.startswith("| greedy sentences/s, own timer / ") for line in lines)
