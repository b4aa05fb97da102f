"""One pipeline config trained with several seeds: the test score's mean and
standard deviation, beside the dev score each run chose its weights by.

    python benchmarks/seeds.py --config pipelines/configs/tagging_wnut17.yaml \
        [--seeds 1234 1235 1236] [--parallel 1] [--output DIR] [--set KEY=VALUE ...]

Each seed trains in its own process (`pipelines/tagging.py` or
`pipelines/translation.py`, chosen by the config) into `OUTPUT/seed_S`, export
off; a seed whose `report.json` is there is not trained again, so running the
command again resumes. `--parallel 2` trains two seeds at once (on two cores,
each at about half speed: for quality, not for timing). Prints a table and
writes `OUTPUT/seeds.json` and `seeds.md`. Default output:
`benchmarks/results/seeds/<config name>/`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import yaml

from nlp_lstm.benchmarking.report import report_steps
from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The test score of each kind of report, and its dev (validation) counterpart.
METRICS = (("f1", "entity F1"), ("bleu", "BLEU"), ("accuracy", "accuracy"))


def pipeline_script(config: dict) -> str:
    """`pipelines/tagging.py` for CoNLL / CoNLL-U data, else translation."""
    tagging = config.get("data", {}).get("format") in ("conll", "conllu")
    return os.path.join(REPO_ROOT, "pipelines",
                        "tagging.py" if tagging else "translation.py")


def train_seed(config_path: str, script: str, seed: int, run_dir: str,
               overrides: list[str]) -> dict:
    """The report of one seed's run, training it unless it is there."""
    report_path = os.path.join(run_dir, "report.json")
    if not os.path.exists(report_path):
        os.makedirs(run_dir, exist_ok=True)
        command = [sys.executable, script, "--config", config_path,
                   "--set", f"run_dir={run_dir}", "--set", f"training.seed={seed}",
                   "--set", "export.enabled=false"]
        for override in overrides:
            command += ["--set", override]
        log_path = os.path.join(run_dir, "pipeline.log")
        with open(log_path, "a") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=REPO_ROOT)
        if done.returncode:
            raise SystemExit(
                f"seed {seed} failed (exit {done.returncode}): see the end of "
                f"{log_path}; run the command again to resume"
            )
    with open(report_path, encoding="utf-8") as stream:
        return json.load(stream)


def summarize(reports: dict[int, dict]) -> dict:
    """Per-seed rows and the mean and sample standard deviation of each score."""
    first = next(iter(reports.values()))
    key, label = next((k, name) for k, name in METRICS if first.get(k) is not None)
    rows = [
        {"seed": seed, "test": report[key], "dev": report["best_validation"],
         "steps": report_steps(report), "train_seconds": report["train_seconds"]}
        for seed, report in sorted(reports.items())
    ]

    def spread(values):
        return {"mean": statistics.mean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    return {
        "metric": key, "label": label, "rows": rows,
        "test": spread([row["test"] for row in rows]),
        "dev": spread([row["dev"] for row in rows]),
    }


def markdown(name: str, summary: dict) -> str:
    label = summary["label"]
    lines = [f"# {name}: {len(summary['rows'])} seeds", "",
             f"| seed | best validation | test {label} | steps | training s |",
             "|---|---|---|---|---|"]
    for row in summary["rows"]:
        lines.append(f"| {row['seed']} | {row['dev']:.2f} | {row['test']:.2f} | "
                     f"{row['steps']} | {row['train_seconds']:.0f} |")
    dev, test = summary["dev"], summary["test"]
    lines.append(f"| mean +- std | {dev['mean']:.2f} +- {dev['std']:.2f} | "
                 f"{test['mean']:.2f} +- {test['std']:.2f} | | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="pipeline YAML config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1235, 1236])
    parser.add_argument("--parallel", type=int, default=1,
                        help="seeds trained at once (default 1)")
    parser.add_argument("--output", default="", help="results folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides", help="config override for every seed")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < 2:
        parser.error("--seeds: give at least two different seeds")
    if args.parallel < 1:
        parser.error("--parallel must be at least 1")
    config_path = os.path.abspath(args.config)
    with open(config_path, encoding="utf-8") as stream:
        config = yaml.safe_load(stream)
    name = config.get("name", os.path.splitext(os.path.basename(config_path))[0])
    output = os.path.abspath(
        args.output or os.path.join(REPO_ROOT, "benchmarks", "results", "seeds", name)
    )
    script = pipeline_script(config)
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = {
            seed: pool.submit(train_seed, config_path, script, seed,
                              os.path.join(output, f"seed_{seed}"), args.overrides)
            for seed in args.seeds
        }
        reports = {seed: future.result() for seed, future in futures.items()}
    summary = summarize(reports)
    summary.update(config=args.config, overrides=args.overrides)
    table = markdown(name, summary)
    atomic_write_json(os.path.join(output, "seeds.json"), summary)
    atomic_write_bytes(os.path.join(output, "seeds.md"), table.encode("utf-8"))
    print(table)
    return summary


if __name__ == "__main__":
    main()
