"""Metrics per slice with bootstrap intervals: the overall numbers are those
of `corpus_scores` / `tagging_scores`, the slices partition the test set."""

import random

import numpy as np
import pytest

from nlp_lstm.evaluation import slices
from nlp_lstm.evaluation.tagging import entity_scores, token_accuracy
from nlp_lstm.evaluation.translation import corpus_scores


def translation_data(count=120, seed=0):
    rng = random.Random(seed)
    vocabulary = "the a cat dog sat ran on under mat house red big small".split()
    references, hypotheses, sources = [], [], []
    for _ in range(count):
        words = rng.choices(vocabulary, k=rng.randint(1, 35))
        references.append(" ".join(words))
        hypotheses.append(" ".join(w if rng.random() < 0.7 else "x" for w in words))
        sources.append(" ".join(rng.choices(vocabulary + ["rara", "nunca"],
                                            k=rng.randint(1, 40))))
    return sources, hypotheses, references


def test_translation_overall_equals_corpus_scores_and_slices_partition():
    sources, hypotheses, references = translation_data()
    counts = slices.word_counts(sources[:60])
    counts["rara"] = 2  # seen, but rarely
    counts.pop("nunca", None)  # never seen
    result = slices.translation_slices(sources, hypotheses, references, counts,
                                       rare_below=5, samples=200)
    expected = corpus_scores(hypotheses, references)
    overall = result["overall"]
    assert overall["bleu"] == expected["bleu"] and overall["chrf"] == expected["chrf"]
    assert overall["sentences"] == len(sources)
    low, high = overall["bleu_ci95"]
    assert low <= overall["bleu"] <= high and high - low > 0
    for family in ("source_length", "rare_words"):
        rows = result["slices"][family]
        assert sum(row["sentences"] for row in rows) == len(sources), family
        assert len({row["slice"] for row in rows}) == len(rows)
    names = {row["slice"] for row in result["slices"]["rare_words"]}
    assert names == set(slices.RARITY)
    # A slice's numbers are those of its sentences scored alone.
    short = [i for i, s in enumerate(sources) if len(s.split()) <= 5]
    row = result["slices"]["source_length"][0]
    assert row["slice"] == "1-5 words" and row["sentences"] == len(short)
    alone = corpus_scores([hypotheses[i] for i in short],
                          [references[i] for i in short])
    assert row["bleu"] == alone["bleu"] and row["chrf"] == alone["chrf"]


def test_rarity_and_length_buckets():
    counts = {"common": 10, "rare": 2}
    assert slices.rarity("Common, common!", counts, 5) == "only frequent words"
    assert slices.rarity("common rare", counts, 5) == "has a rare word"
    assert slices.rarity("rare unseen common", counts, 5) == "has an unseen word"
    assert slices.rarity("rare", counts, 2) == "only frequent words"
    assert [slices.length_bucket(n) for n in (0, 1, 5, 6, 30, 31, 500)] == [
        "empty", "1-5 words", "1-5 words", "6-10 words", "21-30 words",
        "31+ words", "31+ words",
    ]
    assert slices.partition(["b", "a", "b"], ["a", "b", "c"]) == {"a": [1], "b": [0, 2]}


def tagging_data(seed=0, entity=True):
    rng = random.Random(seed)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"] if entity else [
        "NOUN", "VERB", "DET", "ADJ"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 25))] for _ in range(150)]
    predicted = [[t if rng.random() < 0.8 else rng.choice(tags) for t in row]
                 for row in gold]
    tokens = [[rng.choice(["the", "Paris", "zyx", "Bob"]) for _ in row] for row in gold]
    known = [[token != "zyx" for token in row] for row in tokens]
    return tokens, gold, predicted, known


def test_entity_slices_equal_seqeval_and_partition():
    tokens, gold, predicted, known = tagging_data()
    result = slices.tagging_slices(tokens, gold, predicted, "iob2", known,
                                   samples=200)
    expected = entity_scores(gold, predicted, "iob2")
    overall = result["overall"]
    assert result["metric"] == "f1"
    assert overall["f1"] == expected["f1"]
    assert overall["entities"] == expected["support"]
    assert overall["accuracy"] == token_accuracy(gold, predicted)["accuracy"]
    assert overall["f1_ci95"][0] <= overall["f1"] <= overall["f1_ci95"][1]
    by_type = {row["slice"]: row for row in result["slices"]["type"]}
    assert set(by_type) == set(expected["per_type"])
    for name, row in by_type.items():
        assert row["f1"] == expected["per_type"][name]["f1"], name
        assert row["entities"] == expected["per_type"][name]["support"], name
    families = result["slices"]
    assert sum(r["sentences"] for r in families["sentence_length"]) == len(gold)
    lengths = families["sentence_length"]
    assert sum(r["entities"] for r in lengths) == overall["entities"]
    vocabulary = {row["slice"]: row for row in families["vocabulary"]}
    assert set(vocabulary) == {"in vocabulary", "out of vocabulary"}
    assert sum(r["tokens"] for r in vocabulary.values()) == overall["tokens"]
    assert sum(r["entities"] for r in vocabulary.values()) == overall["entities"]
    oov_tokens = sum(not k for row in known for k in row)
    assert vocabulary["out of vocabulary"]["tokens"] == oov_tokens
    # Out-of-vocabulary accuracy is that of those tokens alone.
    pairs = [(g, p) for row_g, row_p, row_k in zip(gold, predicted, known, strict=True)
             for g, p, k in zip(row_g, row_p, row_k, strict=True) if not k]
    accuracy = 100.0 * sum(g == p for g, p in pairs) / len(pairs)
    assert vocabulary["out of vocabulary"]["accuracy"] == round(accuracy, 2)


def test_pos_slices_equal_token_accuracy():
    tokens, gold, predicted, known = tagging_data(entity=False)
    result = slices.tagging_slices(tokens, gold, predicted, "none", known,
                                   samples=200)
    expected = token_accuracy(gold, predicted)
    assert result["metric"] == "accuracy"
    assert result["overall"]["accuracy"] == expected["accuracy"]
    assert result["overall"]["tokens"] == expected["tokens"]
    for row in result["slices"]["type"]:
        assert row["f1"] == expected["per_type"][row["slice"]]["f1"]
    lengths = result["slices"]["sentence_length"]
    assert sum(row["tokens"] for row in lengths) == expected["tokens"]
    assert sum(row["sentences"] for row in lengths) == len(gold)


def test_bootstrap_interval_is_seeded_and_narrows_with_more_sentences():
    rng = np.random.default_rng(0)
    few = np.stack([rng.integers(0, 2, 20), np.ones(20)], axis=1)
    many = np.stack([rng.integers(0, 2, 2000), np.ones(2000)], axis=1)
    score = slices._accuracy
    first = slices.bootstrap_interval(few, score, samples=300)
    assert first == slices.bootstrap_interval(few, score, samples=300)
    wide = first[1] - first[0]
    narrow = np.subtract(*slices.bootstrap_interval(many, score, samples=300)[::-1])
    assert 0 < narrow < wide / 3
    assert slices.bootstrap_interval(np.zeros((0, 2)), score) is None


def test_unaligned_inputs_are_refused():
    with pytest.raises(ValueError, match="2 sources, 1 hypotheses and 2 references"):
        slices.translation_slices(["a", "b"], ["a"], ["a", "b"], {})
    with pytest.raises(ValueError, match="1 sentences of tokens, 2 of gold"):
        slices.tagging_slices([["a"]], [["O"], ["O"]], [["O"]], "iob2", [[True]])
