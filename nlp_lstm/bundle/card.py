"""The model card: what a model was trained on, how well it does for whom,
where it fails, and what it is for, as JSON and Markdown.

Everything on the card is read from the bundle (`bundle.json`: data files
with their digests, the test-set `evaluation` the pipeline measured, the
config) or measured by the export (a `.tflite`'s quality change); what only a
person can say (languages, the data's licence, intended and out-of-scope use,
a contact) comes from the config's `card` section, and an empty field is
listed under "missing", never filled in.

The pipelines write `card.json` / `card.md` into the run folder, every
SavedModel version carries `assets.extra/model_card.{json,md}`, and every
`.tflite` has `FILE.card.{json,md}` beside it; `nlp-lstm card MODEL` prints it.
"""

from __future__ import annotations

import json
import os

import yaml

from nlp_lstm import config as config_lib
from nlp_lstm.utils.files import atomic_write_bytes

FORMAT = "nlp_lstm.card/1"
JSON_FILE = "card.json"
MARKDOWN_FILE = "card.md"
# What the user states in the config's `card` section, and what it is called.
USER_FIELDS = {
    "languages": "languages",
    "data_licence": "licence of the training data",
    "intended_use": "intended use",
    "out_of_scope_use": "out-of-scope use",
    "contact": "contact",
}
FAMILY_TITLES = {
    "source_length": "By source length (words)",
    "sentence_length": "By sentence length (words)",
    "rare_words": "By the rarest source word (seen in training fewer than "
                  "{rare_below} times: rare; never: unseen)",
    "type": "By type",
    "vocabulary": "In and out of the word vocabulary",
}


def _architecture(config) -> dict:
    model = config.model
    encoder = model.encoder
    summary = {
        "encoder": f"{encoder.num_layers} bidirectional {encoder.cell} layers of "
                   f"{encoder.units} units a direction",
    }
    if hasattr(model, "decoder"):
        decoder = model.decoder
        summary["decoder"] = (
            f"{decoder.num_layers} {decoder.cell} layers of {decoder.units} units, "
            f"{decoder.attention} attention"
        )
        summary["tokenizer"] = (
            f"SentencePiece {config.tokenizer.model_type}, "
            f"{config.tokenizer.vocab_size} pieces"
            + (" shared" if config.tokenizer.shared else " per side")
            + (", source case-folded" if config.tokenizer.case_fold_source else "")
        )
    else:
        summary["head"] = model.head
        summary["scheme"] = config.model_scheme
        summary["words"] = f"{config.data.tokenizer} word tokenizer"
    return summary


def _task(config) -> str:
    if isinstance(config, config_lib.TranslationConfig):
        return "translation"
    return "named-entity tagging" if config.is_entity_task else "part-of-speech tagging"


def build_card(bundle, export: dict | None = None) -> dict:
    """The card of `bundle` (a `TranslatorBundle` or `TaggerBundle`, or
    anything with `config` and `metadata`).

    Args:
        bundle: the model bundle; its `metadata["evaluation"]` holds the
            test-set metrics (missing from bundles of older pipelines).
        export: dict or None. What this copy of the model is: `format`
            (`run folder`, `SavedModel`, `tflite`), and for a `.tflite` its
            `quantization` and `quality_change`.

    Returns:
        The card as a JSON-ready dict.
    """
    config, metadata = bundle.config, bundle.metadata
    user = config.card
    missing = [
        label for name, label in USER_FIELDS.items() if not getattr(user, name)
    ]
    evaluation = metadata.get("evaluation")
    if evaluation is None:
        missing.append("test-set evaluation (the bundle was written without one: "
                       "re-run the pipeline)")
    return {
        "format": FORMAT,
        "name": config.name,
        "task": _task(config),
        "languages": list(user.languages),
        "architecture": _architecture(config),
        "training_data": {
            "files": metadata.get("data", []),
            "licence": user.data_licence or None,
        },
        "evaluation": evaluation,
        "limits": (evaluation or {}).get("limits", {}),
        "use": {
            "intended": user.intended_use or None,
            "out_of_scope": user.out_of_scope_use or None,
        },
        "contact": user.contact or None,
        "export": dict(export or {"format": "run folder"}),
        "created": metadata.get("created"),
        "versions": metadata.get("versions", {}),
        "config": config_lib.to_dict(config),
        "missing": missing,
    }


# ---------------------------------------------------------------------------
# Markdown.


def _interval(row: dict, metric: str) -> str:
    interval = row.get(f"{metric}_ci95")
    if interval is None:
        return f"{row[metric]:.2f}"
    return f"{row[metric]:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _metric_columns(row: dict) -> list[str]:
    return [name for name in ("bleu", "chrf", "f1", "accuracy") if name in row]


def _count_columns(row: dict) -> list[str]:
    return [name for name in ("sentences", "entities", "tokens") if name in row]


def _slice_table(rows: list[dict]) -> list[str]:
    metrics = sorted({m for row in rows for m in _metric_columns(row)},
                     key=("bleu", "chrf", "f1", "accuracy").index)
    counts = sorted({c for row in rows for c in _count_columns(row)},
                    key=("sentences", "entities", "tokens").index)
    header = ["slice", *counts, *(f"{m} [95% CI]" for m in metrics)]
    body = [
        [row.get("slice", "all"), *(row.get(c, "") for c in counts),
         *(_interval(row, m) if m in row else "" for m in metrics)]
        for row in rows
    ]
    return _table(header, body)


def _evaluation_lines(evaluation: dict) -> list[str]:
    slices = evaluation["slices"]
    lines = [
        f"On the test set ({evaluation['test_set']['description']}), "
        f"{evaluation['decoding']}. Intervals: 95% bootstrap over sentences "
        f"({slices['bootstrap_samples']} resamples).",
        "",
        *_slice_table([{"slice": "all", **slices["overall"]}]),
    ]
    families = slices["slices"]
    for family in sorted(families, key=lambda name: (
        list(FAMILY_TITLES).index(name) if name in FAMILY_TITLES else len(FAMILY_TITLES)
    )):
        rows = families[family]
        title = FAMILY_TITLES.get(family, family).format(
            rare_below=slices.get("rare_below", "")
        )
        lines += ["", f"### {title}", "", *_slice_table(rows)]
    return lines


def _quality_lines(change: dict) -> list[str]:
    if not change.get("measured"):
        return [f"Quality change: not measured ({change.get('reason', 'unknown')})."]
    metric = change["metric"]
    return [
        f"Quality change from the trained model to this file, on "
        f"{change['sentences']} test sentences: {metric} "
        f"{change['reference']:.2f} -> {change['exported']:.2f} "
        f"({change['change']:+.2f}; {change['setting']}).",
    ]


def render_markdown(card: dict) -> str:
    """The card as Markdown (what `nlp-lstm card` prints)."""
    lines = [f"# Model card: {card['name']}", ""]
    languages = " -> ".join(card["languages"]) if card["languages"] else "not stated"
    lines += [f"- Task: {card['task']}", f"- Languages: {languages}"]
    for part, text in card["architecture"].items():
        lines.append(f"- {part.capitalize()}: {text}")
    export = card["export"]
    form = export["format"]
    if export.get("quantization"):
        form += f", quantization {export['quantization']}"
    lines += [f"- This copy: {form}", f"- Trained: {card.get('created')}, "
              + ", ".join(f"{k} {v}" for k, v in card.get("versions", {}).items())]
    if card["missing"]:
        lines += ["", "## Missing", "",
                  "Not stated in the config's `card` section (or not measured); "
                  "nothing here is guessed:", ""]
        lines += [f"- {item}" for item in card["missing"]]
    use = card["use"]
    lines += ["", "## Use", "",
              f"- Intended: {use['intended'] or 'missing'}",
              f"- Out of scope: {use['out_of_scope'] or 'missing'}",
              f"- Contact: {card['contact'] or 'missing'}"]
    data = card["training_data"]
    lines += ["", "## Training data", "",
              f"Licence: {data['licence'] or 'missing'}", ""]
    lines += _table(
        ["file", "bytes", "sha256"],
        [[f"`{f['path']}`", f"{f['bytes']:,}", f"`{f['sha256'][:16]}…`"]
         for f in data["files"]],
    )
    evaluation = card["evaluation"]
    lines += ["", "## Evaluation", ""]
    lines += _evaluation_lines(evaluation) if evaluation else ["missing"]
    if "quality_change" in export:
        lines += ["", "## This export's quality", "",
                  *_quality_lines(export["quality_change"])]
    if card["limits"]:
        lines += ["", "## Limits", ""]
        lines += [f"- {text}" for text in card["limits"].get("notes", [])]
    lines += ["", "## Config", "", "```yaml",
              yaml.safe_dump(card["config"], sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def write_card(card: dict, json_path: str, markdown_path: str) -> None:
    """Writes `card` as JSON and Markdown, each atomically."""
    atomic_write_bytes(
        json_path,
        (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )
    atomic_write_bytes(markdown_path, render_markdown(card).encode("utf-8"))


def write_run_card(bundle, run_dir: str) -> str:
    """Writes the card of a run folder's bundle beside it; returns the JSON
    path."""
    path = os.path.join(run_dir, JSON_FILE)
    write_card(build_card(bundle), path, os.path.join(run_dir, MARKDOWN_FILE))
    return path
