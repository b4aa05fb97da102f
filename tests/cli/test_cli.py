"""The `nlp-lstm` command without trained models: start-up, parser, and
`evaluate`'s choice of task from the model's metadata. (Commands that run
models are tested with the pipelines: test_translation_pipeline.py,
test_tagger.py, test_tflite.py, test_serving.py.)"""

import json
import subprocess
import sys

import pytest

from nlp_lstm import cli
from tests.helpers import REPO_ROOT


def test_help_starts_without_tensorflow():
    code = (
        "import sys\n"
        "from nlp_lstm.cli import build_parser\n"
        "build_parser().format_help()\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    result = subprocess.run([sys.executable, "-m", "nlp_lstm.cli", "--help"],
                            cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "serving" in result.stdout


def test_every_command_parses():
    parser = cli.build_parser()
    for argv in (
        ["translate", "--model", "m"],
        ["tag", "--model", "m", "--format", "json", "--pretokenized"],
        ["evaluate", "--model", "m", "--source", "s", "--reference", "r"],
        ["evaluate", "--model", "m", "--data", "d", "--data-format", "conllu"],
        ["export-tflite", "--model", "m", "--output", "o.tflite"],
        ["tflite-run", "--model", "m.tflite", "--format", "conll"],
        ["inspect", "m.tflite"],
        ["serving", "config", "root"],
        ["serving", "check", "m", "--server-version", "2.19"],
        ["serving", "client", "--url", "http://x", "--model", "m"],
        ["serving", "export", "run"],
    ):
        assert callable(parser.parse_args(argv).handler), argv


def fake_export(tmp_path, task: str) -> str:
    """A version folder with metadata only: enough for `evaluate` to choose."""
    version = tmp_path / task / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    (version / "assets.extra" / "nlp_lstm.json").write_text(json.dumps({"task": task}))
    return str(version)


@pytest.mark.parametrize(
    "task, flags, message",
    [
        ("translation", ["--data", "x.conll"],
         "--data is a flag of tagging models, but .* holds a translation model: "
         "evaluate it with --source FILE --reference FILE"),
        ("translation", ["--source", "s.txt", "--format", "conll"],
         "--format is a flag of tagging models"),
        ("translation", ["--source", "s.txt"], "needs --source FILE --reference FILE"),
        ("tagging", ["--data", "x.conll", "--beam-size", "2"],
         "--beam-size is a flag of translation models, but .* holds a tagging "
         "model: evaluate it with --data FILE"),
        ("tagging", [], r"needs --data FILE \[--data-format conll\|conllu\]"),
        ("tagging", ["--data", "x", "--format", "conll", "--data-format", "conllu"],
         "--format conll and --data-format conllu disagree"),
    ],
)
def test_evaluate_rejects_flags_of_the_other_task(tmp_path, task, flags, message):
    model = fake_export(tmp_path, task)
    with pytest.raises(SystemExit, match=message):
        cli.main(["evaluate", "--model", model, *flags])


def test_evaluate_reads_gzipped_sources_and_references(tmp_path):
    """The shipped corpora are `.gz`: `evaluate` reads them as their text
    (it read the compressed bytes, and refused aligned files as misaligned)."""
    import gzip

    from nlp_lstm.cli.evaluate import read_pairs

    source = "\ufeffUn perro.\nDos gatos.\n\n"
    reference = "A dog.\nTwo cats.\n\n"
    paths = {}
    for name, text in (("src", source), ("ref", reference)):
        plain = tmp_path / f"{name}.txt"
        plain.write_text(text, encoding="utf-8")
        packed = tmp_path / f"{name}.txt.gz"
        packed.write_bytes(gzip.compress(text.encode("utf-8")))
        paths[name] = (str(plain), str(packed))
    expected = ([b"Un perro.", b"Dos gatos.", b""], ["A dog.", "Two cats.", ""])
    assert read_pairs(paths["src"][0], paths["ref"][0]) == expected
    assert read_pairs(paths["src"][1], paths["ref"][1]) == expected
    assert read_pairs(paths["src"][1], paths["ref"][0]) == expected
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(source.encode("utf-8"))[:-6])
    with pytest.raises(SystemExit, match="cut.gz is not a complete gzip file"):
        read_pairs(str(cut), paths["ref"][0])
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("A dog.\n", encoding="utf-16")
    with pytest.raises(SystemExit, match="utf16.txt is not UTF-8 text .*iconv"):
        read_pairs(paths["src"][0], str(utf16))
    with pytest.raises(SystemExit, match="has 3 lines but .* has 2: give aligned"):
        short = tmp_path / "short.txt"
        short.write_text("A dog.\nTwo cats.\n")
        read_pairs(paths["src"][1], str(short))


@pytest.mark.parametrize("status", [0, 3])
def test_the_script_exits_with_the_commands_status_and_all_its_output(status):
    """`console_main` ends the process without the interpreter's teardown:
    what the command wrote to buffered stdout and stderr still arrives whole,
    and its status is the exit status."""
    code = (
        "import sys\n"
        "from nlp_lstm import cli\n"
        "def command(argv=None):\n"
        "    sys.stdout.write('x' * 300000 + '\\n')\n"
        "    sys.stderr.write('warning: kept\\n')\n"
        f"    return {status}\n"
        "cli.main = command\n"
        "cli.console_main()\n"
        "raise SystemExit('console_main returned')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == status, result.stderr[-2000:]
    assert result.stdout == "x" * 300000 + "\n"
    assert result.stderr.endswith("warning: kept\n")


@pytest.mark.parametrize(
    "flags, expected", [([], None), (["--lookup-tables", "off"], False),
                        (["--lookup-tables", "on"], True)],
)
def test_serving_export_passes_lookup_tables_on(monkeypatch, capsys, flags, expected):
    """`--lookup-tables on|off` reaches `export_run` as a bool; without it the
    run's `decoding.lookup_tables` stays (None)."""
    from nlp_lstm.export.serving import reexport

    calls = []
    monkeypatch.setattr(
        reexport, "export_run", lambda *args: calls.append(args) or "out/1"
    )
    parser = cli.build_parser()
    args = parser.parse_args(["serving", "export", "runs/x", *flags])
    assert args.handler(args) == 0
    assert calls[0][-1] is expected
    assert "exported out/1" in capsys.readouterr().out
