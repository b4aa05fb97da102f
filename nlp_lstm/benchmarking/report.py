"""The results file, its Markdown table and its plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import os

from nlp_lstm.utils.files import atomic_write_json

RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"
PLOTS = ("training.png", "inference_latency.png", "speed_quality.png")


def report_steps(report: dict) -> int:
    """The training steps of a pipeline's `report.json`: `steps` (translation
    reports written before 2026-12-02 named it `train_steps`)."""
    return report["steps"] if "steps" in report else report["train_steps"]


def write_json(results: dict, output_dir: str) -> str:
    path = os.path.join(output_dir, RESULTS_JSON)
    atomic_write_json(path, json.loads(json.dumps(results, default=str)))
    return path


def write_all(results: dict, output_dir: str) -> dict:
    """Writes `results.json`, `results.md` and the plots; returns their paths."""
    paths = {"json": write_json(results, output_dir)}
    markdown_path = os.path.join(output_dir, RESULTS_MARKDOWN)
    with open(markdown_path, "w", encoding="utf-8") as stream:
        stream.write(markdown(results))
    paths["markdown"] = markdown_path
    paths["plots"] = plots(results, output_dir)
    return paths


def _number(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def quality_cell(row: dict) -> str:
    if row.get("model") != "trained":
        return "no trained model"
    quality = row.get("quality") or {}
    count = quality.get("sentences")
    if "bleu" in quality:
        return f"BLEU {quality['bleu']:.2f} / chrF {quality['chrf']:.2f} ({count})"
    if "f1" in quality:
        return f"F1 {quality['f1']:.2f} / acc {quality['accuracy']:.2f} ({count})"
    if "accuracy" in quality:
        return f"acc {quality['accuracy']:.2f} ({count})"
    return "-"


def training_lines(results: dict) -> list[str]:
    peak = results.get("matmul_peak", {})
    lines = [
        "| model | step s (median, p10-p90) | tokens/s (real) | tokens/s (padded) "
        "| sentences/s | GFLOP/s | % of matmul peak | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label, tokens in (
        ("translator_training", "translator (src+tgt tokens)", "source_target"),
        ("translator_training_bfloat16", "translator, bfloat16", "source_target"),
        ("tagger_training", "tagger (tokens)", "tokens"),
        ("tagger_training_bfloat16", "tagger, bfloat16", "tokens"),
    ):
        section = results.get(key)
        if not section:
            continue
        if "error" in section or "skipped" in section:
            reason = section.get("error") or section.get("skipped")
            lines.append(f"| {label} | {reason} | | | | | | |")
            continue
        step = section["step_seconds"]
        lines.append(
            f"| {label} | {step['median']:.3f} ({step['p10']:.3f}-{step['p90']:.3f}) "
            f"| {_number(section['tokens_per_second'][tokens])} "
            f"| {_number(section['padded_tokens_per_second'][tokens])} "
            f"| {_number(section['sentences_per_second'])} "
            f"| {_number(section['achieved_gflops'])} "
            f"| {_number(section.get('percent_of_peak'))} "
            f"| {_number(section['peak_rss_mb'], 0)} |"
        )
    if peak.get("gflops"):
        lines.append("")
        lines.append(
            f"Measured matmul peak: **{peak['gflops']:.1f} GFLOP/s** "
            f"(float32 {peak['size']}x{peak['size']}, {peak['chain']} chained "
            f"matmuls in one tf.function, best of {peak['repeats']}"
            + (
                f"; {_number(peak.get('gflops_before_training'))} before and "
                f"{_number(peak['gflops_after_training'])} after the training "
                "sections, the best is used)."
                if "gflops_after_training" in peak
                else ")."
            )
        )
    bfloat16 = results.get("matmul_peak_bfloat16", {})
    if bfloat16.get("gflops"):
        lines.append(
            f"bfloat16 matmul peak, measured the same way: **{bfloat16['gflops']:.1f} "
            "GFLOP/s** (the bfloat16 rows' % of peak is of this one)."
        )
        speedups = [
            f"{name} {results[key]['bfloat16_speedup']:.2f}x"
            for key, name in (("translator_training", "translator"),
                              ("tagger_training", "tagger"))
            if "bfloat16_speedup" in results.get(key, {})
        ]
        if speedups:
            lines.append(
                "Step speed-up of bfloat16 matmuls (median step, float32 / "
                "bfloat16): " + ", ".join(speedups) + "."
            )
    return lines


def inference_lines(results: dict) -> list[str]:
    lines = [
        "| task | format | search | latency ms batch 1 (median / p90) "
        "| sentences/s (batch) | size MiB | quality (test sentences) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results.get("inference", []):
        head = f"| {row['task']} | {row['format']} | {row['search']} "
        if "skipped" in row or "error" in row:
            reason = row.get("skipped") or "error: " + row["error"]
            lines.append(head + f"| {reason[:120]} | | | |")
            continue
        latency = row["latency_ms"]
        throughput = row["throughput"]
        lines.append(
            head
            + f"| {_number(latency['median'])} / {_number(latency['p90'])} "
            f"| {_number(throughput['sentences_per_second'])} "
            f"({throughput['batch_size']}) "
            f"| {_number(row['size_mb'])} | {quality_cell(row)} |"
        )
    return lines


def markdown(results: dict) -> str:
    environment = results.get("environment", {})
    versions = environment.get("versions", {})
    suite = results.get("suite", {})
    lines = [
        f"# Benchmarks: suite `{suite.get('name')}`",
        "",
        f"{environment.get('date')}, {environment.get('cpu_model')} "
        f"({len(environment.get('cpu_affinity', []))} cores usable, "
        f"TF intra/inter-op threads {environment.get('tf_intra_op_threads')}/"
        f"{environment.get('tf_inter_op_threads')} (0 = all)), "
        f"TF {versions.get('tensorflow')}, Keras {versions.get('keras')}, "
        f"LiteRT {versions.get('ai_edge_litert')}; load average at start "
        f"{environment.get('load_average')}.",
        "",
        f"Command: `{environment.get('command')}`"
        + (
            f"; wall time {results['wall_seconds']:.0f} s."
            if "wall_seconds" in results
            else "."
        ),
        "",
        "## Training throughput",
        "",
        *training_lines(results),
        "",
        "## Inference",
        "",
        *inference_lines(results),
        "",
    ]
    for key in ("translator_inference_model", "tagger_inference_model"):
        if key in results:
            lines.append(f"- {key}: {results[key]}")
    for name in results.get("section_seconds", {}):
        section = results.get(name)
        if isinstance(section, dict) and "error" in section:
            lines.append(f"- section {name} failed: {section['error']}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Plots.


def _figure_rows(results: dict):
    return [
        row for row in results.get("inference", [])
        if "latency_ms" in row and "throughput" in row
    ]


def plots(results: dict, output_dir: str) -> list[str]:
    """Writes the PNG plots; returns their paths."""
    # Imported here: matplotlib is an optional dependency (the `benchmarks`
    # extra), needed only for the plots.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    # Training: tokens/s and GFLOP/s against the matmul peak.
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    names, rates, gflops = [], [], []
    for key, label, tokens in (
        ("translator_training", "translator\n(src+tgt)", "source_target"),
        ("tagger_training", "tagger", "tokens"),
    ):
        section = results.get(key) or {}
        if "tokens_per_second" in section:
            names.append(label)
            rates.append(section["tokens_per_second"][tokens])
            gflops.append(section["achieved_gflops"])
    axes[0].bar(names, rates, color="tab:blue")
    axes[0].set_ylabel("real tokens / s")
    axes[0].set_title("Training throughput")
    axes[1].bar(names, gflops, color="tab:orange")
    peak = results.get("matmul_peak", {}).get("gflops")
    if peak:
        axes[1].axhline(peak, color="black", linestyle="--", label="matmul peak")
        axes[1].legend()
    axes[1].set_ylabel("GFLOP/s")
    axes[1].set_title("Achieved FLOP/s of the training step")
    figure.tight_layout()
    path = os.path.join(output_dir, PLOTS[0])
    figure.savefig(path, dpi=100)
    plt.close(figure)
    paths.append(path)

    rows = _figure_rows(results)
    # Latency per format (median bar, p90 whisker).
    figure, axis = plt.subplots(figsize=(10, 4.5))
    labels = [f"{r['task'][:5]} {r['format']} {r['search']}" for r in rows]
    medians = [r["latency_ms"]["median"] for r in rows]
    p90 = [r["latency_ms"]["p90"] - r["latency_ms"]["median"] for r in rows]
    axis.barh(labels, medians, xerr=[[0] * len(p90), p90], color="tab:green")
    axis.set_xscale("log")
    axis.set_xlabel("batch-1 latency, ms (median; whisker to p90)")
    axis.invert_yaxis()
    figure.tight_layout()
    path = os.path.join(output_dir, PLOTS[1])
    figure.savefig(path, dpi=100)
    plt.close(figure)
    paths.append(path)

    # Throughput against quality (trained models only have a quality).
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    formats = sorted({row["format"] for row in rows})
    colors = {name: plt.cm.tab10(index % 10) for index, name in enumerate(formats)}
    for axis, task, metric in (
        (axes[0], "translation", "bleu"),
        (axes[1], "tagging", "accuracy"),
    ):
        for row in rows:
            if row["task"] != task:
                continue
            quality = (row.get("quality") or {}).get(metric)
            trained = row.get("model") == "trained"
            axis.scatter(
                row["throughput"]["sentences_per_second"],
                quality if trained and quality is not None else 0.0,
                color=colors[row["format"]],
                marker="s" if row["search"].startswith("beam") else "o",
                label=f"{row['format']} {row['search']}".replace(" -", ""),
            )
        axis.set_xscale("log")
        axis.set_xlabel("sentences / s (batch of the row; TFLite batch 1)")
        axis.set_ylabel(metric + " (0: no trained model)")
        beam_note = " (square: beam search)" if task == "translation" else ""
        axis.set_title(task + beam_note)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path = os.path.join(output_dir, PLOTS[2])
    figure.savefig(path, dpi=100)
    plt.close(figure)
    paths.append(path)
    return paths
