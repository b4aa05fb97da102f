"""BLEU and chrF with sacrebleu, on detokenized output against raw references."""

from __future__ import annotations

from typing import Callable

import sacrebleu


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF (sacrebleu defaults: 13a tokenization, cased)."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references: "
            "give one translation per reference line"
        )
    bleu_metric, chrf_metric = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "bleu_signature": str(bleu_metric.get_signature()),
        "sentences": len(hypotheses),
    }


def choose_length_penalty(
    translate: Callable[[float], list[str]],
    references: list[str],
    candidates: list[float],
) -> tuple[float, list[dict]]:
    """The length penalty of `candidates` whose translations score the best
    BLEU against `references` (the smallest of equal ones).

    Args:
        translate: the sources' translations with a given length penalty.
        references: one per source.
        candidates: length penalties to try, at least one.

    Returns:
        `(best, rows)`: one row `{"length_penalty", "bleu", "chrf"}` per
        candidate, in the order given.
    """
    if not candidates:
        raise ValueError("no length penalty to choose from: give one at least")
    rows = []
    for value in candidates:
        scores = corpus_scores(translate(value), references)
        rows.append(
            {"length_penalty": value, "bleu": scores["bleu"], "chrf": scores["chrf"]}
        )
    best = max(rows, key=lambda row: (row["bleu"], -row["length_penalty"]))
    return best["length_penalty"], rows
