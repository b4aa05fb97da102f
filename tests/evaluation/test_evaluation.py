"""Scoring functions over predictions (no model involved)."""

import pytest

from nlp_lstm.evaluation.tagging import score_tagging
from nlp_lstm.evaluation.translation import choose_length_penalty, corpus_scores


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


REFERENCES = [
    "a man in a blue shirt is standing on a ladder",
    "two dogs are running through the snow together",
    "the girl is playing with a red ball in the park",
]


def test_choose_length_penalty_takes_the_best_dev_bleu():
    """A fake search whose outputs lengthen with the penalty, complete at
    1.0 and padded with a wrong word above it: 1.0 scores best."""
    def translate(value):
        calls.append(value)
        out = []
        for text in REFERENCES:
            words = text.split()
            keep = max(1, round(len(words) * min(value, 1.0)))
            extra = ["extra"] * round(4 * max(value - 1.0, 0.0))
            out.append(" ".join(words[:keep] + extra))
        return out

    calls = []
    chosen, rows = choose_length_penalty(translate, REFERENCES, [0.2, 0.6, 1.0, 2.0])
    assert chosen == 1.0 and calls == [0.2, 0.6, 1.0, 2.0]
    assert [row["length_penalty"] for row in rows] == calls
    for row in rows:
        expected = corpus_scores(translate(row["length_penalty"]), REFERENCES)
        assert (row["bleu"], row["chrf"]) == (expected["bleu"], expected["chrf"])
    assert rows[2]["bleu"] == 100.0 and rows[0]["bleu"] < rows[1]["bleu"] < 100.0


def test_choose_length_penalty_ties_take_the_smallest_and_none_is_an_error():
    def same(value):
        return REFERENCES

    chosen, _ = choose_length_penalty(same, REFERENCES, [1.5, 0.0, 1.0])
    assert chosen == 0.0
    with pytest.raises(ValueError, match="no length penalty"):
        choose_length_penalty(lambda value: REFERENCES, REFERENCES, [])
