"""Test-set metrics overall and per slice, each with a bootstrap 95% interval.

A slice family partitions the test set: its sentences (by length, by the
rarest source word) or its units (entities by type, tokens in or out of the
vocabulary). Every metric is computed from per-sentence sufficient
statistics (sacrebleu's n-gram counts for BLEU and chrF, entity and token
counts for taggers), so that a bootstrap resample of the sentences is a sum,
not a new evaluation; the overall numbers equal `corpus_scores` and
`tagging_scores` (the tests check it).

The interval is the 2.5th to 97.5th percentile of the metric over
`BOOTSTRAP_SAMPLES` resamples of the slice's sentences with replacement
(Koehn 2004's bootstrap; a fixed seed makes the card reproducible).
"""

from __future__ import annotations

import collections
import re

import numpy as np
import sacrebleu
from seqeval.scheme import Entities

from nlp_lstm.evaluation.tagging import SEQEVAL_SCHEMES

BOOTSTRAP_SAMPLES = 1000
SEED = 12345
# Sentence lengths in words (whitespace tokens), inclusive; None: no bound.
LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, 30), (31, None))
WORD = re.compile(r"\w+")


def bootstrap_interval(stats, score, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = SEED) -> list[float] | None:
    """The 95% percentile interval of `score(summed stats)` over resamples.

    Args:
        stats: array `(sentences, k)`: each sentence's sufficient statistics.
        score: callable from summed statistics `(k,)` to a float.
        samples: int. Resamples.
        seed: int. Seed of the resampling.

    Returns:
        `[low, high]` rounded to 2 decimals; None for no sentences.
    """
    stats = np.asarray(stats, dtype=np.float64)
    if len(stats) == 0:
        return None
    rng = np.random.default_rng(seed)
    scores = []
    # Chunks of resamples: (samples, sentences, k) at once could be large.
    for start in range(0, samples, 100):
        count = min(100, samples - start)
        rows = rng.integers(0, len(stats), size=(count, len(stats)))
        scores.extend(score(total) for total in stats[rows].sum(axis=1))
    low, high = np.percentile(scores, [2.5, 97.5])
    return [round(float(low), 2), round(float(high), 2)]


def length_bucket(length: int) -> str:
    """The `LENGTH_BUCKETS` name of a sentence of `length` words."""
    for low, high in LENGTH_BUCKETS:
        if high is None or length <= high:
            if length >= low:
                return f"{low}+ words" if high is None else f"{low}-{high} words"
    return "empty"


def partition(keys: list[str], order: list[str] | None = None) -> dict:
    """`{key: [indexes]}` of `keys`, in `order` (empty slices left out)."""
    groups = collections.defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    names = order if order is not None else sorted(groups)
    return {name: groups[name] for name in names if groups.get(name)}


def length_names() -> list[str]:
    return ["empty"] + [length_bucket(low) for low, _ in LENGTH_BUCKETS]


# ---------------------------------------------------------------------------
# Translation.


def words(text: str) -> list[str]:
    """The words of a sentence for rarity: lowercased `\\w+` runs."""
    return WORD.findall(text.lower())


def word_counts(texts) -> collections.Counter:
    """How often each word (`words`) occurs in `texts`."""
    counts = collections.Counter()
    for text in texts:
        counts.update(words(text))
    return counts


RARITY = ("has an unseen word", "has a rare word", "only frequent words")


def rarity(text: str, counts, rare_below: int) -> str:
    """The `RARITY` slice of a source sentence: its rarest word was never
    seen in training, seen fewer than `rare_below` times, or neither."""
    seen = [counts.get(word, 0) for word in words(text)]
    if any(count == 0 for count in seen):
        return RARITY[0]
    if any(count < rare_below for count in seen):
        return RARITY[1]
    return RARITY[2]


class _CorpusMetric:
    """A sacrebleu metric as per-sentence statistics and a score of their sum."""

    def __init__(self, metric):
        self.metric = metric

    def statistics(self, hypotheses, references) -> np.ndarray:
        # sacrebleu's own bootstrap (`corpus_score(n_bootstrap=)`) sums these.
        stats = self.metric._extract_corpus_statistics(hypotheses, [references])
        return np.asarray(stats, dtype=np.float64)

    def score(self, total) -> float:
        return float(self.metric._compute_score_from_stats(list(total)).score)


def translation_metrics() -> dict:
    """`{"bleu", "chrf"}` as `_CorpusMetric`s, configured as `corpus_scores`."""
    return {
        "bleu": _CorpusMetric(sacrebleu.metrics.BLEU()),
        "chrf": _CorpusMetric(sacrebleu.metrics.CHRF()),
    }


def _translation_row(stats: dict, rows: list[int], samples: int) -> dict:
    row = {"sentences": len(rows)}
    for name, (metric, values) in stats.items():
        picked = values[rows]
        row[name] = round(metric.score(picked.sum(axis=0)), 2)
        row[f"{name}_ci95"] = bootstrap_interval(picked, metric.score, samples)
    return row


def translation_slices(sources: list[str], hypotheses: list[str],
                       references: list[str], train_counts,
                       rare_below: int = 5,
                       samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """BLEU and chrF of a translated test set, overall and per slice.

    Args:
        sources, hypotheses, references: aligned test sentences.
        train_counts: mapping word -> occurrences in the training sources
            (`word_counts`).
        rare_below: int. Fewer occurrences than this make a word rare.
        samples: int. Bootstrap resamples.

    Returns:
        `{"overall": row, "slices": {family: [row, ...]}, "rare_below"}`;
        a row holds `sentences`, `bleu`, `bleu_ci95`, `chrf`, `chrf_ci95`
        (slices add their `slice` name). Families: `source_length`,
        `rare_words`.
    """
    if not len(sources) == len(hypotheses) == len(references):
        raise ValueError(
            f"{len(sources)} sources, {len(hypotheses)} hypotheses and "
            f"{len(references)} references: give aligned lists"
        )
    stats = {
        name: (metric, metric.statistics(hypotheses, references))
        for name, metric in translation_metrics().items()
    }
    families = {
        "source_length": partition(
            [length_bucket(len(text.split())) for text in sources], length_names()
        ),
        "rare_words": partition(
            [rarity(text, train_counts, rare_below) for text in sources],
            list(RARITY),
        ),
    }
    return {
        "overall": _translation_row(stats, list(range(len(sources))), samples),
        "slices": {
            family: [
                {"slice": name, **_translation_row(stats, rows, samples)}
                for name, rows in groups.items()
            ]
            for family, groups in families.items()
        },
        "rare_below": rare_below,
        "bootstrap_samples": samples,
    }


# ---------------------------------------------------------------------------
# Tagging.


def _percent(numerator, denominator) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def _f1(total) -> float:
    """F1 from summed `(true positives, predicted, gold)`."""
    return _percent(2 * total[0], total[1] + total[2])


def _accuracy(total) -> float:
    """Accuracy from summed `(correct, tokens)`."""
    return _percent(total[0], total[1])


def _entity_sets(tags: list[list[str]], scheme: str) -> list[set]:
    """Each sentence's entities `(type, start, end)` as seqeval's strict
    mode reads them (what `entity_scores` counts)."""
    found = Entities(tags, SEQEVAL_SCHEMES[scheme]).entities
    return [{(e.tag, e.start, e.end) for e in sentence} for sentence in found]


def _entity_stats(gold_sets, predicted_sets, keep) -> np.ndarray:
    """Per sentence `(tp, predicted, gold)` of the entities `keep` accepts
    (`keep(sentence_index, entity)`)."""
    stats = np.zeros((len(gold_sets), 3))
    for index, (gold, predicted) in enumerate(
        zip(gold_sets, predicted_sets, strict=True)
    ):
        gold = {e for e in gold if keep(index, e)}
        predicted = {e for e in predicted if keep(index, e)}
        stats[index] = (len(gold & predicted), len(predicted), len(gold))
    return stats


def _token_stats(gold, predicted, keep) -> np.ndarray:
    """Per sentence `(correct, tokens)` of the tokens `keep(i, j)` accepts."""
    stats = np.zeros((len(gold), 2))
    for i, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        for j, (g, p) in enumerate(zip(gold_tags, predicted_tags, strict=True)):
            if keep(i, j):
                stats[i] += (g == p, 1)
    return stats


def _row(stats, rows, samples, name: str, score, units: str) -> dict:
    picked = stats[rows]
    total = picked.sum(axis=0)
    return {
        units: int(total[-1]),
        name: round(float(score(total)), 2),
        f"{name}_ci95": bootstrap_interval(picked, score, samples),
    }


def tagging_slices(tokens: list[list[str]], gold: list[list[str]],
                   predicted: list[list[str]], scheme: str,
                   in_vocabulary: list[list[bool]],
                   samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """Entity F1 (entity schemes) or token accuracy (POS), overall and per
    slice.

    Args:
        tokens: the test sentences' tokens.
        gold, predicted: their tags in the model's `scheme`, same lengths
            (`evaluation.tagging.align_predictions`).
        scheme: str. `iob2`, `bioes` or `none` (POS).
        in_vocabulary: per token, whether it is in the model's word
            vocabulary (`WordVocabulary.in_vocabulary`).
        samples: int. Bootstrap resamples.

    Returns:
        `{"overall": row, "slices": {family: [row, ...]}, "metric"}`. Entity
        rows hold `f1` (its `f1_ci95`) over `entities` (gold entities) and,
        for `overall` and the vocabulary slices, `accuracy` over `tokens`;
        POS rows hold `accuracy` over `tokens`. Families: `sentence_length`
        (whole sentences), `type` (entity type or POS tag: the F1 of its
        entities or tokens), `vocabulary` (tokens in or out of the word
        vocabulary; an entity is out when any of its tokens is).
    """
    if not len(tokens) == len(gold) == len(predicted):
        raise ValueError(
            f"{len(tokens)} sentences of tokens, {len(gold)} of gold tags and "
            f"{len(predicted)} of predictions: give aligned lists"
        )
    everywhere = range(len(tokens))
    lengths = partition([length_bucket(len(row)) for row in tokens], length_names())
    oov = [[not known for known in row] for row in in_vocabulary]
    vocabulary = {"in vocabulary": False, "out of vocabulary": True}
    accuracy = {
        name: _token_stats(gold, predicted, lambda i, j, o=out: oov[i][j] == o)
        for name, out in vocabulary.items()
    }
    all_tokens = _token_stats(gold, predicted, lambda i, j: True)
    if scheme == "none":
        types = sorted({tag for row in gold for tag in row})
        per_type = {
            tag: _pos_type_stats(gold, predicted, tag) for tag in types
        }
        return {
            "metric": "accuracy",
            "overall": _row(all_tokens, everywhere, samples, "accuracy", _accuracy,
                            "tokens"),
            "slices": {
                "sentence_length": [
                    {"slice": name, "sentences": len(rows),
                     **_row(all_tokens, rows, samples, "accuracy", _accuracy, "tokens")}
                    for name, rows in lengths.items()
                ],
                "type": [
                    {"slice": tag, **_row(stats, everywhere, samples, "f1", _f1,
                                          "tokens")}
                    for tag, stats in per_type.items()
                ],
                "vocabulary": [
                    {"slice": name, **_row(stats, everywhere, samples, "accuracy",
                                           _accuracy, "tokens")}
                    for name, stats in accuracy.items()
                    if stats[:, 1].sum()
                ],
            },
            "bootstrap_samples": samples,
        }
    gold_sets = _entity_sets(gold, scheme)
    predicted_sets = _entity_sets(predicted, scheme)
    entities = _entity_stats(gold_sets, predicted_sets, lambda i, e: True)
    types = sorted({e[0] for sentence in gold_sets for e in sentence})

    def out_of_vocabulary(i, entity):
        return any(oov[i][entity[1] : entity[2] + 1])

    def row(stats, rows):
        return _row(stats, rows, samples, "f1", _f1, "entities")

    vocabulary_rows = []
    for name, out in vocabulary.items():
        stats = _entity_stats(
            gold_sets, predicted_sets,
            lambda i, e, o=out: out_of_vocabulary(i, e) == o,
        )
        if not accuracy[name][:, 1].sum():
            continue
        vocabulary_rows.append({
            "slice": name, **row(stats, everywhere),
            **_row(accuracy[name], everywhere, samples, "accuracy", _accuracy,
                   "tokens"),
        })
    return {
        "metric": "f1",
        "overall": {
            **row(entities, everywhere),
            **_row(all_tokens, everywhere, samples, "accuracy", _accuracy, "tokens"),
        },
        "slices": {
            "sentence_length": [
                {"slice": name, "sentences": len(rows), **row(entities, rows)}
                for name, rows in lengths.items()
            ],
            "type": [
                {"slice": name, **row(
                    _entity_stats(gold_sets, predicted_sets,
                                  lambda i, e, t=name: e[0] == t),
                    everywhere,
                )}
                for name in types
            ],
            "vocabulary": vocabulary_rows,
        },
        "bootstrap_samples": samples,
    }


def _pos_type_stats(gold, predicted, tag) -> np.ndarray:
    """Per sentence `(tp, predicted, gold)` of one POS tag (its F1, as
    `token_accuracy`'s `per_type`)."""
    stats = np.zeros((len(gold), 3))
    for i, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        for g, p in zip(gold_tags, predicted_tags, strict=True):
            stats[i] += (g == p == tag, p == tag, g == tag)
    return stats
