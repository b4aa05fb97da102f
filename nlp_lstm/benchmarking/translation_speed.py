"""Translation speed and memory of an exported translator, beside the peers.

What issue 13 measures, one process per measurement (so that each peak RSS is
its own), one after the other:

- **in-process**: a fresh process loads the SavedModel and translates the test
  set (its copies) at batch 64 through `SavedModelTranslator.translate`
  (length-sorted batches, as the peers batch by length; one batch per core at
  once, as `nlp-lstm translate` runs), timed after the first call, as the
  peers' own timers measure; then batch-1 latency over the first sentences.
  Start-up is split into import, load and first call.
- **whole process**: `nlp-lstm translate` on the file, under `/usr/bin/time -v`
  (wall seconds and peak RSS), start-up included.
- **peers**: OpenNMT-tf and OpenNMT-py, trained by `../shared/peers/bench.sh`,
  translate the same sentences with the same commands as `bench.sh` (their
  SentencePiece pieces in, pieces out), whole process and their own timers.

BLEU and chrF are scored on the first copy of the test set.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import sentencepiece

from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.utils.cores import usable_cores

MODES = {"greedy": 1, "beam": 5}
PEER_LABELS = {"tf": "OpenNMT-tf 2.32", "py": "OpenNMT-py 3.5.1"}


@dataclasses.dataclass
class Setup:
    """What one sitting translates, and with what."""

    model: str  # an exported SavedModel (model or version folder)
    sources: str  # raw source text, one sentence a line
    references: str  # raw references of `sources`
    copies: int = 3
    batch_size: int = 64
    latency_sentences: int = 200
    peers: str | None = None  # a bench.sh output folder (`.../m30k-n2000`)
    # Another checkout of the project to measure (a "before" row), and its label.
    code: str | None = None
    label: str = "nlp_lstm SavedModel"
    # More project rows before this one: dicts of `model`, `code`, `label`.
    others: list = dataclasses.field(default_factory=list)
    # `.tflite` files exported with batch signatures, after it: dicts of
    # `label` and `path` (whole process only: `nlp-lstm translate` on LiteRT).
    tflite: list = dataclasses.field(default_factory=list)
    threads: int = dataclasses.field(default_factory=usable_cores)
    # Rounds of the whole sitting, each system in turn within a round: the
    # table reports each figure's median over the rounds, and the project's
    # ratios to OpenNMT-py per round (this machine's speed drifts by 10-20%
    # over minutes, the peer's too).
    rounds: int = 1


def read_lines(path: str) -> list[str]:
    """The lines of a text file (gzip-compressed when it ends in `.gz`)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        return [line.rstrip("\n") for line in stream]


def timed_command(
    command, stdin_path=None, stdout_path=None, env=None, cwd=None
) -> dict:
    """Runs `command` under `/usr/bin/time -v`: wall seconds, peak RSS (MB),
    return code and the command's stderr (stdout goes to `stdout_path`)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        stdout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            process = subprocess.run(
                ["/usr/bin/time", "-v", "-o", report.name, *command],
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                check=False,
            )
            seconds = time.perf_counter() - start
        finally:
            for stream in (stdin, stdout):
                if hasattr(stream, "close"):
                    stream.close()
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read())
    return {
        "seconds": seconds,
        "rss_mb": int(found.group(1)) / 1024 if found else None,
        "returncode": process.returncode,
        "stderr": process.stderr.decode("utf-8", errors="replace"),
    }


def repeated_file(path: str, copies: int, directory: str) -> str:
    """`path`'s lines `copies` times over, in a file of `directory`."""
    lines = read_lines(path)
    name = os.path.basename(path).removesuffix(".gz")
    target = os.path.join(directory, f"{name}.x{copies}")
    with open(target, "w", encoding="utf-8") as stream:
        for _ in range(copies):
            stream.writelines(line + "\n" for line in lines)
    return target


def scores(hypotheses_path: str, references: list[str]) -> dict:
    hypotheses = read_lines(hypotheses_path)[: len(references)]
    if len(hypotheses) != len(references):
        return {}
    return corpus_scores(hypotheses, references)


# -------------------------------------------------------------------- ours


def in_process(
    model: str, sources: str, beam_size: int, batch_size: int, latency_sentences: int
) -> dict:
    """Runs in a fresh process (`python -m ... in-process`): start-up split
    into import, load and first call, then throughput and batch-1 latency."""
    start = time.perf_counter()
    try:
        from nlp_lstm.export import runtime
    except ImportError:  # a checkout from before it, for a "before" row
        runtime = None
    if hasattr(runtime, "choose_kernels"):
        runtime.choose_kernels(model)  # as `nlp-lstm translate` does
    from nlp_lstm.export.runners import SavedModelTranslator

    imported = time.perf_counter()
    threads = usable_cores()
    if runtime is None:
        translator = SavedModelTranslator(model)
    else:
        # As `nlp-lstm translate` runs: one batch per core at once.
        runtime.use_threads(threads)
        try:  # only the signature it runs, as the command loads it
            translator = SavedModelTranslator(
                model, workers=threads, beam_sizes=[beam_size]
            )
        except TypeError:  # a checkout from before `beam_sizes`
            translator = SavedModelTranslator(model, workers=threads)
    loaded = time.perf_counter()
    texts = read_lines(sources)
    translator.translate(texts[:1], beam_size=beam_size)
    first = time.perf_counter()
    outputs = translator.translate(texts, beam_size=beam_size, batch_size=batch_size)
    done = time.perf_counter()
    latencies = []
    for text in texts[:latency_sentences]:
        call = time.perf_counter()
        translator.translate([text], beam_size=beam_size, batch_size=1)
        latencies.append(time.perf_counter() - call)
    from nlp_lstm.benchmarking.measure import peak_rss_mb

    return {
        "import_s": imported - start,
        "load_s": loaded - imported,
        "first_call_s": first - loaded,
        "translate_s": done - first,
        "threads": threads,
        "sentences": len(texts),
        "sentences_per_s": len(texts) / (done - first),
        "latency_ms_median": 1000 * statistics.median(latencies),
        "latency_ms_p90": 1000 * sorted(latencies)[int(0.9 * (len(latencies) - 1))],
        "peak_rss_mb": peak_rss_mb(),
        "outputs": outputs,
    }


def ours(setup: Setup, timed_sources: str, references: list[str], work: str) -> dict:
    """The project's rows: in-process and whole-process, greedy and beam."""
    row = {"system": setup.label}
    env = dict(os.environ, PYTHONPATH=setup.code) if setup.code else None
    for mode, beam_size in MODES.items():
        name = re.sub(r"\W+", "_", setup.label)
        report = os.path.join(work, f"{name}.{mode}.json")
        command = [
            sys.executable,
            "-m",
            __name__,
            "in-process",
            "--model",
            setup.model,
            "--sources",
            timed_sources,
            "--beam-size",
            str(beam_size),
            "--batch-size",
            str(setup.batch_size),
            "--latency-sentences",
            str(setup.latency_sentences),
            "--report",
            report,
        ]
        # From the checkout's folder: `python -m` puts the working folder first.
        measured = timed_command(command, env=env, cwd=setup.code)
        if measured["returncode"]:
            raise RuntimeError(
                f"in-process {mode} failed:\n{measured['stderr'][-3000:]}"
            )
        with open(report, encoding="utf-8") as stream:
            inside = json.load(stream)
        hypotheses = os.path.join(work, f"{name}.{mode}.inprocess.txt")
        with open(hypotheses, "w", encoding="utf-8") as stream:
            stream.writelines(line + "\n" for line in inside.pop("outputs"))
        whole = translate_command(
            ["--model", setup.model, "--beam-size", str(beam_size),
             "--batch-size", str(setup.batch_size)],
            timed_sources, os.path.join(work, f"{name}.{mode}.txt"), references,
            env=env,
        )
        row[mode] = {
            "sentences_per_s_own": inside["sentences_per_s"],
            **whole,
            "startup": {
                key: inside[key] for key in ("import_s", "load_s", "first_call_s")
            },
            "latency_ms_median": inside["latency_ms_median"],
            "latency_ms_p90": inside["latency_ms_p90"],
            "in_process_rss_mb": inside["peak_rss_mb"],
            "same_as_cli": read_lines(hypotheses) == read_lines(whole["output"]),
        }
    return row


def translate_command(arguments: list[str], timed_sources: str, output: str,
                      references: list[str], env=None) -> dict:
    """`nlp-lstm translate ARGUMENTS < timed_sources > output` as a whole
    process: its sentences/s, seconds, peak RSS, stderr lines, output file
    and the scores of the output's first `len(references)` lines."""
    whole = timed_command(
        ["nlp-lstm", "translate", *arguments],
        stdin_path=timed_sources, stdout_path=output, env=env,
    )
    if whole["returncode"]:
        raise RuntimeError(f"nlp-lstm translate failed:\n{whole['stderr'][-3000:]}")
    return {
        "sentences_per_s_process": len(read_lines(output)) / whole["seconds"],
        "process_s": whole["seconds"],
        "rss_mb": whole["rss_mb"],
        "stderr_lines": len(whole["stderr"].splitlines()),
        "output": output,
        **scores(output, references),
    }


def tflite_row(label: str, path: str, timed_sources: str, references: list[str],
               work: str, threads: int) -> dict:
    """A `.tflite` file's whole-process row: `nlp-lstm translate --model
    FILE.tflite` (LiteRT, one interpreter per thread), greedy and with the
    beam size it was exported with."""
    row = {"system": label}
    name = re.sub(r"\W+", "_", label)
    for mode, beam_size in MODES.items():
        # Beam search with the file's own beam size (fixed at export).
        beam = ["--beam-size", "1"] if beam_size == 1 else []
        row[mode] = translate_command(
            ["--model", path, *beam, "--threads", str(threads)],
            timed_sources, os.path.join(work, f"{name}.{mode}.txt"), references,
        )
    return row


def equal_lines(path: str, other: str) -> int:
    """Lines of two files that are the same, position by position."""
    return sum(a == b for a, b in zip(read_lines(path), read_lines(other)))


# ------------------------------------------------------------------- peers


def _peer_output_tokens(path: str) -> int:
    with open(path, encoding="utf-8") as stream:
        return sum(len(line.split()) for line in stream)


def _decode_pieces(pieces_path: str, sp_model: str, output: str, count: int) -> None:
    processor = sentencepiece.SentencePieceProcessor(model_file=sp_model)
    lines = read_lines(pieces_path)[:count]
    with open(output, "w", encoding="utf-8") as stream:
        stream.writelines(processor.decode(line.split()) + "\n" for line in lines)


def peer_commands(
    peer: str,
    folder: str,
    mode: str,
    sources: str,
    output: str,
    threads: int,
    batch_size: int,
) -> list[str]:
    """`bench.sh`'s translate command for `peer` (`tf` or `py`); OpenNMT-tf
    reads its batch size from the config `bench.sh` wrote."""
    home = os.path.dirname(os.path.dirname(folder))  # PEERS_HOME
    run = os.path.join(folder, f"onmt-{peer}")
    if peer == "tf":
        return [
            os.path.join(home, "venv-onmt-tf", "bin", "onmt-main"),
            "--config",
            os.path.join(run, "config.yml"),
            os.path.join(run, f"{mode}.yml"),
            "--intra_op_parallelism_threads",
            str(threads),
            "--inter_op_parallelism_threads",
            str(threads),
            "infer",
            "--features_file",
            sources,
            "--predictions_file",
            output,
            "--log_prediction_time",
        ]
    steps = [
        int(found.group(1))
        for found in map(re.compile(r"model_step_(\d+)\.pt").fullmatch, os.listdir(run))
        if found
    ]
    return [
        os.path.join(home, "venv-onmt-py", "bin", "onmt_translate"),
        "-model",
        os.path.join(run, f"model_step_{max(steps)}.pt"),
        "-src",
        sources,
        "-output",
        output,
        "-beam_size",
        str(MODES[mode]),
        "-batch_size",
        str(batch_size),
        "-batch_type",
        "sents",
        "-max_length",
        "200",
        "-length_penalty",
        "none",
        "-gpu",
        "-1",
        "-seed",
        "1234",
        "-report_time",
    ]


def peer_own_seconds(peer: str, log: str, output: str) -> float | None:
    """The peer's own translation time, read as `bench.sh` reads it."""
    if peer == "tf":
        found = re.findall(r"Total prediction time \(s\): ([\d.]+)", log)
        return float(found[-1]) if found else None
    found = re.findall(r"Tokens per second: ([\d.]+)", log)
    if found and float(found[-1]) > 0:
        return _peer_output_tokens(output) / float(found[-1])
    return None


def peers(setup: Setup, references: list[str], work: str) -> list[dict]:
    """The peers' rows, for each peer that `bench.sh` trained in `setup.peers`."""
    rows = []
    prepared = os.path.join(setup.peers, "prep")
    pieces = repeated_file(os.path.join(prepared, "test.src"), setup.copies, work)
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(setup.threads),
        MKL_NUM_THREADS=str(setup.threads),
        TF_CPP_MIN_LOG_LEVEL="1",
        PYTHONWARNINGS="ignore",
        TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1",
    )
    for peer, label in PEER_LABELS.items():
        if not os.path.isdir(os.path.join(setup.peers, f"onmt-{peer}")):
            continue
        row = {"system": label}
        for mode in MODES:
            output = os.path.join(work, f"{peer}.{mode}.pieces")
            command = peer_commands(
                peer, setup.peers, mode, pieces, output, setup.threads, setup.batch_size
            )
            measured = timed_command(command, env=env)
            if measured["returncode"]:
                row[mode] = {"error": measured["stderr"][-2000:]}
                continue
            own = peer_own_seconds(peer, measured["stderr"], output)
            sentences = len(references) * setup.copies
            text = os.path.join(work, f"{peer}.{mode}.txt")
            _decode_pieces(
                output, os.path.join(prepared, "sp.model"), text, len(references)
            )
            row[mode] = {
                "sentences_per_s_own": sentences / own if own else None,
                "sentences_per_s_process": sentences / measured["seconds"],
                "process_s": measured["seconds"],
                "rss_mb": measured["rss_mb"],
                **scores(text, references),
            }
        rows.append(row)
    return rows


# ------------------------------------------------------------------ report


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _with_rounds(values: list, unit: str = "", digits: int = 1) -> str:
    """The median of `values`, then each round's value when there are more."""
    median = f"{statistics.median(values):,.{digits}f}{unit}"
    if len(values) < 2:
        return median
    return f"{median} ({' / '.join(f'{v:,.{digits}f}' for v in values)})"


def _round_cell(measured: dict, key: str, digits: int) -> str:
    rounds = measured.get(f"{key}_rounds")
    if rounds and len(rounds) > 1:
        return _with_rounds(rounds, "", digits)
    return _cell(measured.get(key), digits)


def table(rows: list[dict]) -> str:
    """A Markdown table: one column per system."""
    lines = [
        ("greedy sentences/s, own timer", "greedy", "sentences_per_s_own", 1),
        ("greedy sentences/s, whole process", "greedy", "sentences_per_s_process", 1),
        ("beam-5 sentences/s, own timer", "beam", "sentences_per_s_own", 1),
        ("beam-5 sentences/s, whole process", "beam", "sentences_per_s_process", 1),
        ("peak RSS greedy, MB", "greedy", "rss_mb", 0),
        ("peak RSS beam, MB", "beam", "rss_mb", 0),
        ("batch-1 latency greedy, ms (median)", "greedy", "latency_ms_median", 1),
        ("batch-1 latency beam, ms (median)", "beam", "latency_ms_median", 1),
        ("BLEU greedy", "greedy", "bleu", 2),
        ("BLEU beam", "beam", "bleu", 2),
        ("greedy translations equal to the SavedModel's (--model)",
         "greedy", "equal", 0),
        ("beam translations equal to the SavedModel's (--model)",
         "beam", "equal", 0),
    ]
    header = "| | " + " | ".join(row["system"] for row in rows) + " |"
    out = [header, "|---" * (len(rows) + 1) + "|"]
    for label, mode, key, digits in lines:
        cells = [_round_cell(row.get(mode, {}), key, digits) for row in rows]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    speeds = [line for line in lines if line[2].startswith("sentences_per_s")]
    for label, mode, key, _ in speeds:
        ratios = [row.get(mode, {}).get(f"{key}_ratio_rounds") for row in rows]
        if any(ratios):
            cells = [
                "-" if not values else _with_rounds(values, "x", 2)
                for values in ratios
            ]
            out.append(
                f"| {label} / {REFERENCE_PEER}'s | " + " | ".join(cells) + " |"
            )
    for row in rows:
        for mode in MODES:
            startup = row.get(mode, {}).get("startup")
            if startup:
                out.append(
                    f"\n{row['system']} {mode} start-up: import "
                    f"{startup['import_s']:.2f} s, load {startup['load_s']:.2f} s, "
                    f"first call {startup['first_call_s']:.2f} s"
                )
    return "\n".join(out)


# Figures that change from one round to the next (medians in the table).
ROUND_KEYS = (
    "sentences_per_s_own",
    "sentences_per_s_process",
    "rss_mb",
    "latency_ms_median",
)
# The row that ratios are taken to.
REFERENCE_PEER = PEER_LABELS["py"]


def combine_rounds(rounds: list[list[dict]]) -> list[dict]:
    """One row per system from its rows of every round: the `ROUND_KEYS`
    as medians (each round's value in `KEY_rounds`), the rest (outputs,
    scores, start-up) from the last round; and, for every system but the
    reference peer, `KEY_ratio_rounds`: its value over the reference peer's
    of the same round."""
    reference = [
        next((row for row in rows if row["system"] == REFERENCE_PEER), None)
        for rows in rounds
    ]
    combined = []
    for index, last in enumerate(rounds[-1]):
        row = {key: value for key, value in last.items() if key not in MODES}
        for mode in MODES:
            if mode not in last:
                continue
            merged = dict(last[mode])
            for key in ROUND_KEYS:
                values = [rows[index].get(mode, {}).get(key) for rows in rounds]
                if any(value is None for value in values):
                    continue
                merged[key] = statistics.median(values)
                merged[f"{key}_rounds"] = values
                peers_values = [
                    (peer or {}).get(mode, {}).get(key) for peer in reference
                ]
                if last["system"] != REFERENCE_PEER and all(peers_values):
                    merged[f"{key}_ratio_rounds"] = [
                        value / peer for value, peer in zip(values, peers_values)
                    ]
            row[mode] = merged
        combined.append(row)
    return combined


def sitting(setup: Setup, timed_sources: str, references: list[str],
            output: str) -> list[dict]:
    """One round: the peers, the other project rows, the project, the
    `.tflite` files, one after the other."""
    rows = peers(setup, references, output) if setup.peers else []
    others = [
        ours(dataclasses.replace(setup, **extra), timed_sources, references, output)
        for extra in setup.others
    ]
    main = ours(setup, timed_sources, references, output)
    files = [
        tflite_row(extra["label"], extra["path"], timed_sources, references,
                   output, setup.threads)
        for extra in setup.tflite
    ]
    # Every other row of the project's translates as `--model` does, or not.
    for row in others + files:
        for mode in MODES:
            row[mode]["equal"] = equal_lines(row[mode]["output"], main[mode]["output"])
    return rows + others + [main] + files


def run(setup: Setup, output: str) -> dict:
    """Measures the peers (when `setup.peers`), then the project, `rounds`
    times; writes `results.json` and `results.md` into `output`."""
    os.makedirs(output, exist_ok=True)
    references = read_lines(setup.references)
    timed_sources = repeated_file(setup.sources, setup.copies, output)
    rounds = [
        sitting(setup, timed_sources, references, output)
        for _ in range(setup.rounds)
    ]
    rows = combine_rounds(rounds)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "setup": dataclasses.asdict(setup),
        "rows": rows,
    }
    with open(os.path.join(output, "results.json"), "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=1)
    markdown = table(rows)
    with open(os.path.join(output, "results.md"), "w", encoding="utf-8") as stream:
        stream.write(markdown + "\n")
    print(markdown)
    return results


def _in_process_main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["in-process"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sources", required=True)
    parser.add_argument("--beam-size", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latency-sentences", type=int, default=200)
    parser.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    result = in_process(
        args.model,
        args.sources,
        args.beam_size,
        args.batch_size,
        args.latency_sentences,
    )
    with open(args.report, "w", encoding="utf-8") as stream:
        json.dump(result, stream)
    return 0


if __name__ == "__main__":
    sys.exit(_in_process_main(sys.argv[1:]))
