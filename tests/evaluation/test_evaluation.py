"""Scoring functions over predictions (no model involved)."""

import pytest

from nlp_lstm.evaluation.tagging import score_tagging


def test_score_tagging_converts_gold_and_pads_cut_predictions():
    gold = [["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "O"]]
    # The second prediction was cut after one token by the model.
    predicted = [["B-PER", "E-PER", "O", "S-LOC"], ["S-ORG"]]
    scores = score_tagging(gold, predicted, "iob1", "bioes")
    assert scores["f1"] == 100.0 and scores["accuracy"] == 100.0
    assert scores["sentences"] == 2 and scores["truncated_sentences"] == 1
    assert scores["scheme"] == "bioes"


def test_score_tagging_pos_and_cut_counts_as_wrong():
    scores = score_tagging([["NOUN", "VERB"]], [["NOUN"]], "none", "none")
    assert scores["accuracy"] == 50.0 and scores["truncated_sentences"] == 1


def test_score_tagging_rejects_mixed_schemes_and_lengths():
    with pytest.raises(ValueError, match="the data's scheme is 'none' but the "
                                         "model's is 'iob2'"):
        score_tagging([["NOUN"]], [["O"]], "none", "iob2")
    with pytest.raises(ValueError, match="gold has 1 sentences but predictions 2"):
        score_tagging([["O"]], [["O"], ["O"]], "iob2", "iob2")
    with pytest.raises(ValueError, match="sentence 0: gold has 1 tags, predictions 2"):
        score_tagging([["O"]], [["O", "O"]], "iob2", "iob2")
