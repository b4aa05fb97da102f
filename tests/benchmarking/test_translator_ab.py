"""`benchmarks/translator_ab.py`: each model's translations are put back in
corpus order and scored, both are timed every round, in alternating order,
and b's translations are compared with a's line by line."""

import pytest
import tensorflow as tf

from nlp_lstm.evaluation.translation import corpus_scores
from tests.helpers import load_benchmark

translator_ab = load_benchmark("translator_ab")


class Signature:
    """A stand-in signature: translates by a word map, logs its calls."""

    def __init__(self, name, log, mapping):
        self.name, self.log, self.mapping = name, log, mapping

    def __call__(self, sources):
        self.log.append(self.name)
        texts = [s.decode() if isinstance(s, bytes) else s for s in sources]
        out = [" ".join(self.mapping.get(w, w) for w in t.split()) for t in texts]
        return {"translations": tf.constant([t.encode() for t in out])}


def test_compare_scores_in_corpus_order_and_alternates_rounds():
    sources = ["a long sentence of words", "b", "c d", "a b c"]
    references = ["A long sentence of words", "B", "C d", "A B C"]
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    ordered = [sources[i] for i in order]
    batches = [ordered[:2], ordered[2:]]
    log = []
    signatures = {
        "a": Signature("a", log, {"a": "A", "b": "B"}),
        "b": Signature("b", log, {"a": "A", "b": "B", "c": "C"}),
    }
    result = translator_ab.compare(signatures, batches, order, references, rounds=3)
    expected_a = ["A long sentence of words", "B", "c d", "A B c"]
    assert result["a"]["bleu"] == pytest.approx(
        corpus_scores(expected_a, references)["bleu"]
    )
    assert result["b"]["bleu"] > result["a"]["bleu"]
    assert result["equal"] == 2  # the lines without "c"
    # Quality pass (a, b), then rounds a b / b a / a b, two batches each.
    assert log == ["a"] * 2 + ["b"] * 2 + ["a"] * 2 + ["b"] * 4 + ["a"] * 4 + ["b"] * 2
    for label in ("a", "b"):
        assert len(result[label]["sentences_per_second"]) == 3
    ratios = [
        y / x for x, y in zip(
            result["a"]["sentences_per_second"], result["b"]["sentences_per_second"]
        )
    ]
    assert result["b_over_a_per_round"] == pytest.approx(ratios)
    assert result["b_over_a"] == pytest.approx(
        result["b"]["median"] / result["a"]["median"]
    )
