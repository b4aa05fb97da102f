"""LSTM, peephole LSTM and GRU side by side: training speed and quality.

Speed (`speed`): the training step of the translator at the benchmark size on
Multi30k en->de and of the UD-EWT POS tagger, per cell, measured as
`nlp_lstm.benchmarking.training` measures the default LSTM (fixed batches of
the real data, warm-up, timed steps; run it alone on the machine).

Quality (`quality`): the pipelines' own runs, one per cell and task, with the
configs unchanged but the cell and the number of steps (resumable: a run with
a report is read, not redone; each runs in its own process).

    python benchmarks/cells.py speed [--suite quick]
    python benchmarks/cells.py quality --steps 2000 [--runs /tmp/cell_runs]
    python benchmarks/cells.py report

Results go to benchmarks/results/cells/ (speed.json, quality.json,
results.md, cells.png).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "cells")
CELLS = ("lstm", "peephole_lstm", "gru")
TASKS = {
    "multi30k": (
        "translation",
        "pipelines/configs/translation_multi30k_en_de.yaml",
        "bleu",
    ),
    "ud_ewt": ("tagging", "pipelines/configs/tagging_ud_ewt_upos.yaml", "accuracy"),
}


def _write(name: str, data) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name)
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2)
        stream.write("\n")
    return path


def _read(name: str):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def speed(suite_name: str) -> dict:
    """Training step time and tokens/s of both tasks for every cell."""
    from nlp_lstm.benchmarking import measure
    from nlp_lstm.benchmarking import training as training_lib
    from nlp_lstm.benchmarking.suites import SUITES

    suite = SUITES[suite_name]
    cache = os.path.join(REPO_ROOT, "benchmarks", ".cache")
    os.makedirs(cache, exist_ok=True)
    os.chdir(REPO_ROOT)
    translation = training_lib.translation_setup(suite, cache)
    tagging = training_lib.tagging_setup(training_lib.tagging_config(suite))
    rows = []
    for cell in CELLS:
        translation.config.model.encoder.cell = cell
        translation.config.model.decoder.cell = cell
        report, bundle = training_lib.translator_training(
            suite, translation, None, verbose=False
        )
        rows.append(_speed_row("multi30k", cell, report, bundle.model, "source_target"))
        tagging.config.model.encoder.cell = cell
        report, bundle = training_lib.tagger_training(
            suite, tagging, None, verbose=False
        )
        rows.append(_speed_row("ud_ewt", cell, report, bundle.model, "words"))
        print(rows[-2], rows[-1], sep="\n", flush=True)
    result = {
        "suite": suite.to_dict(),
        "environment": measure.environment(sys.argv),
        "rows": rows,
    }
    _write("speed.json", result)
    return result


def _speed_row(task, cell, report, model, tokens_key) -> dict:
    tokens = report["tokens_per_second"]
    return {
        "task": task,
        "cell": cell,
        "parameters": int(sum(int(v.numpy().size) for v in model.trainable_variables)),
        "step_ms_median": 1000 * report["step_seconds"]["median"],
        "tokens_per_second": tokens.get(tokens_key, next(iter(tokens.values()))),
    }


def quality(steps: int, runs: str) -> dict:
    """One pipeline run per task and cell; returns the rows of their reports."""
    rows = []
    for task, (kind, config, metric) in TASKS.items():
        for cell in CELLS:
            run_dir = os.path.join(runs, f"{task}_{cell}_{steps}")
            report_path = os.path.join(run_dir, "report.json")
            if not os.path.exists(report_path):
                overrides = [
                    f"run_dir={run_dir}",
                    f"training.steps={steps}",
                    f"training.eval_every={max(steps // 4, 1)}",
                    f"model.encoder.cell={cell}",
                    "export.enabled=false",
                ]
                if kind == "translation":
                    # One tokenizer for the three runs.
                    overrides += [
                        f"model.decoder.cell={cell}",
                        f"tokenizer.directory={os.path.join(runs, 'tokenizers')}",
                    ]
                command = [sys.executable, f"pipelines/{kind}.py", "--config", config]
                for override in overrides:
                    command += ["--set", override]
                print(" ".join(command), flush=True)
                subprocess.run(command, cwd=REPO_ROOT, check=True)
            with open(report_path, encoding="utf-8") as stream:
                report = json.load(stream)
            rows.append(_quality_row(task, cell, metric, report, run_dir))
            print(rows[-1], flush=True)
    result = {"steps": steps, "rows": rows}
    _write("quality.json", result)
    return result


def _quality_row(task, cell, metric, report, run_dir) -> dict:
    from nlp_lstm.benchmarking.report import report_steps

    history_path = os.path.join(run_dir, "history.json")
    with open(history_path, encoding="utf-8") as stream:
        history = json.load(stream)
    test = report.get(metric)
    if test is None:
        test = report.get("test", {}).get(metric)
    return {
        "task": task,
        "cell": cell,
        "metric": metric,
        "test": test,
        "train_steps": report_steps(report),
        "train_seconds": report.get("train_seconds"),
        "history": history,
    }


def report() -> str:
    """results.md and cells.png from the JSON files that exist."""
    speed_result, quality_result = _read("speed.json"), _read("quality.json")
    lines = ["# LSTM, peephole LSTM and GRU", ""]
    if speed_result:
        lines += [
            f"Training speed, suite `{speed_result['suite']['name']}` "
            "(`python benchmarks/cells.py speed`), "
            f"{speed_result['environment'].get('cpu_model', '')}, "
            f"{speed_result['environment'].get('cpu_count', '')} cores, "
            f"{speed_result['environment'].get('date', '')[:10]}, nothing else "
            "running:",
            "",
            "| task | cell | parameters | step ms (median) | tokens/s | vs lstm |",
            "|---|---|---|---|---|---|",
        ]
        base = {r["task"]: r for r in speed_result["rows"] if r["cell"] == "lstm"}
        for row in speed_result["rows"]:
            ratio = row["tokens_per_second"] / base[row["task"]]["tokens_per_second"]
            lines.append(
                f"| {row['task']} | {row['cell']} | {row['parameters']:,} | "
                f"{row['step_ms_median']:.1f} | {row['tokens_per_second']:,.0f} | "
                f"{ratio:.2f}x |"
            )
        lines.append("")
    if quality_result:
        lines += [
            f"Quality after {quality_result['steps']} training steps "
            "(`python benchmarks/cells.py quality --steps "
            f"{quality_result['steps']}`; test set; the configs' other settings "
            "unchanged; one seed; the runs shared the cores with other work, so "
            "their minutes are no speed measure: the speed table is):",
            "",
            "| task | cell | metric | test | best dev | train minutes (not quiet) |",
            "|---|---|---|---|---|---|",
        ]
        for row in quality_result["rows"]:
            dev = _best_dev(row)
            minutes = (row["train_seconds"] or 0) / 60
            test = "" if row["test"] is None else f"{row['test']:.2f}"
            lines.append(
                f"| {row['task']} | {row['cell']} | {row['metric']} | {test} | "
                f"{dev} | {minutes:.1f} |"
            )
        lines.append("")
        _plot(quality_result)
        lines.append("![dev curves](cells.png)")
    text = "\n".join(lines) + "\n"
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "results.md"), "w", encoding="utf-8") as stream:
        stream.write(text)
    return text


def _dev_metric(row):
    """The dev metric's key in the history rows."""
    keys = [k for k in row["history"][0] if k.startswith("val_") and k != "val_loss"]
    return keys[0] if keys else "val_loss"


def _best_dev(row) -> str:
    if not row["history"]:
        return ""
    key = _dev_metric(row)
    values = [h[key] for h in row["history"]]
    best = min(values) if key == "val_loss" else max(values)
    return f"{key} {best:.4g}"


def _plot(quality_result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({row["task"] for row in quality_result["rows"]})
    figure, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4))
    axes = [axes] if len(tasks) == 1 else list(axes)
    for axis, task in zip(axes, tasks):
        for row in quality_result["rows"]:
            if row["task"] != task or not row["history"]:
                continue
            key = _dev_metric(row)
            axis.plot(
                [h["step"] for h in row["history"]],
                [h[key] for h in row["history"]],
                marker="o",
                label=row["cell"],
            )
            axis.set_ylabel(f"dev {key}")
        axis.set_xlabel("training step")
        axis.set_title(task)
        axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(RESULTS, "cells.png"), dpi=100)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    speed_parser = sub.add_parser("speed")
    speed_parser.add_argument("--suite", default="quick")
    quality_parser = sub.add_parser("quality")
    quality_parser.add_argument("--steps", type=int, default=2000)
    quality_parser.add_argument(
        "--runs", default=os.path.join(REPO_ROOT, "runs", "cells")
    )
    sub.add_parser("report")
    args = parser.parse_args(argv)
    if args.command == "speed":
        speed(args.suite)
    elif args.command == "quality":
        quality(args.steps, args.runs)
    print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
