"""Tagging metrics: entity-level P/R/F1 (seqeval, strict) and token accuracy."""

from __future__ import annotations

import collections

from seqeval.scheme import BILOU, IOB2, IOBES

from nlp_lstm.text import tags as tag_schemes

SEQEVAL_SCHEMES = {"iob2": IOB2, "bioes": IOBES, "bilou": BILOU}


def _check_lengths(gold, predicted) -> None:
    if len(gold) != len(predicted):
        raise ValueError(
            f"gold has {len(gold)} sentences but predictions {len(predicted)}"
        )
    for index, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(
                f"sentence {index}: gold has {len(g)} tags, predictions {len(p)}"
            )


def entity_scores(gold: list[list[str]], predicted: list[list[str]],
                  scheme: str = "iob2") -> dict:
    """Entity precision, recall and F1 (micro) in seqeval's strict mode.

    Strict mode counts an entity only when its type, start and end all match
    as the scheme defines them (an `I-` without `B-` in IOB2 is no entity).

    Args:
        gold: tags of each sentence.
        predicted: predicted tags, same lengths.
        scheme: str. `"iob2"` or `"bioes"`.

    Returns:
        `{"precision", "recall", "f1", "support", "per_type": {type: {...}}}`,
        scores in percent.

    Example:
    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])["f1"]
    100.0
    """
    if scheme not in SEQEVAL_SCHEMES:
        raise ValueError(
            f"scheme must be one of {sorted(SEQEVAL_SCHEMES)}, got {scheme!r}"
        )
    _check_lengths(gold, predicted)
    # Here: seqeval's metrics import scikit-learn and SciPy (a second).
    from seqeval.metrics import classification_report  # noqa: PLC0415

    report = classification_report(
        gold, predicted, mode="strict", scheme=SEQEVAL_SCHEMES[scheme],
        output_dict=True, zero_division=0,
    )
    per_type = {}
    for name, row in report.items():
        if name.endswith(" avg"):
            continue
        per_type[name] = _row(row)
    micro = report.get("micro avg", {"precision": 0, "recall": 0, "f1-score": 0,
                                     "support": 0})
    return {**_row(micro), "per_type": per_type}


def _row(row) -> dict:
    return {
        "precision": round(100.0 * float(row["precision"]), 2),
        "recall": round(100.0 * float(row["recall"]), 2),
        "f1": round(100.0 * float(row["f1-score"]), 2),
        "support": int(row["support"]),
    }


def token_accuracy(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Token accuracy and per-tag precision/recall/F1, in percent.

    Example:
    >>> token_accuracy([["NOUN", "VERB"]], [["NOUN", "NOUN"]])["accuracy"]
    50.0
    """
    _check_lengths(gold, predicted)
    true_positive = collections.Counter()
    gold_count = collections.Counter()
    predicted_count = collections.Counter()
    correct = total = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        for g, p in zip(gold_tags, predicted_tags, strict=True):
            gold_count[g] += 1
            predicted_count[p] += 1
            total += 1
            if g == p:
                correct += 1
                true_positive[g] += 1
    per_type = {}
    for tag in sorted(gold_count):
        predicted_total = predicted_count[tag]
        precision = true_positive[tag] / predicted_total if predicted_total else 0
        recall = true_positive[tag] / gold_count[tag]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0
        per_type[tag] = _row(
            {"precision": precision, "recall": recall, "f1-score": f1,
             "support": gold_count[tag]}
        )
    accuracy = 100.0 * correct / total if total else 0.0
    return {"accuracy": round(accuracy, 2), "tokens": total, "per_type": per_type}


def tagging_scores(gold, predicted, scheme: str) -> dict:
    """`entity_scores` for entity schemes, `token_accuracy` for `none` (POS).

    Entity results also carry the token accuracy.
    """
    if scheme == "none":
        return token_accuracy(gold, predicted)
    scores = entity_scores(gold, predicted, scheme)
    scores["accuracy"] = token_accuracy(gold, predicted)["accuracy"]
    return scores


def score_tagging(gold: list[list[str]], predicted: list[list[str]],
                  gold_scheme: str, scheme: str) -> dict:
    """Scores a tagger's predictions against gold tags of another scheme.

    Gold tags are converted to the model's `scheme`. A prediction shorter than
    its gold sentence (the model cut the sentence at its maximum length) is
    padded with untagged tokens (`O`, or "" for `none`) and counted in
    `truncated_sentences`.

    Args:
        gold: tags of each sentence, in `gold_scheme`.
        predicted: the model's tags of each sentence, in `scheme`; each at
            most as long as its gold sentence.
        gold_scheme: str. `iob1`, `iob2`, `bioes` or `none` (POS tags).
        scheme: str. The model's scheme.

    Returns:
        `tagging_scores(...)` plus `sentences`, `truncated_sentences` and
        `scheme`.

    Example:
    >>> score_tagging([["I-PER", "O"]], [["S-PER"]], "iob1", "bioes")["f1"]
    100.0
    """
    converted, padded, truncated = align_predictions(
        gold, predicted, gold_scheme, scheme
    )
    scores = tagging_scores(converted, padded, scheme)
    scores.update({"sentences": len(gold), "truncated_sentences": truncated,
                   "scheme": scheme})
    return scores


def align_predictions(gold: list[list[str]], predicted: list[list[str]],
                      gold_scheme: str, scheme: str):
    """Gold tags in the model's `scheme` and predictions padded to their
    length, as `score_tagging` scores them.

    Returns:
        `(gold, predicted, truncated)`: converted gold tags, padded
        predictions and the number of predictions that were shorter.
    """
    if (gold_scheme == "none") != (scheme == "none"):
        raise ValueError(
            f"the data's scheme is {gold_scheme!r} but the model's is {scheme!r}: "
            "evaluate POS models on POS tags and entity models on entity tags "
            "(set the data's scheme)"
        )
    if len(gold) != len(predicted):
        raise ValueError(
            f"gold has {len(gold)} sentences but predictions {len(predicted)}"
        )
    filler = "" if scheme == "none" else tag_schemes.OUTSIDE
    converted, padded = [], []
    truncated = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        if len(predicted_tags) > len(gold_tags):
            raise ValueError(
                f"sentence {len(padded)}: gold has {len(gold_tags)} tags, "
                f"predictions {len(predicted_tags)}"
            )
        truncated += len(predicted_tags) < len(gold_tags)
        padded.append(
            list(predicted_tags) + [filler] * (len(gold_tags) - len(predicted_tags))
        )
        converted.append(tag_schemes.convert(gold_tags, gold_scheme, scheme))
    return converted, padded, truncated
