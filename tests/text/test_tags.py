"""Tagging schemes: conversions round-trip, checks, repair, vocabulary."""

import random

import pytest

from nlp_lstm.text import tags as schemes


def random_iob2(rng, length, kinds=("PER", "LOC")):
    tags, previous = [], "O"
    for _ in range(length):
        choice = rng.random()
        if choice < 0.4:
            tag = "O"
        elif choice < 0.7 or previous == "O":
            tag = f"B-{rng.choice(kinds)}"
        else:
            tag = f"I-{schemes.split_tag(previous)[1]}"
        tags.append(tag)
        previous = tag
    return tags


CASES = [
    # (iob1, iob2, bioes)
    (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"],
     ["B-PER", "E-PER", "O", "S-LOC"]),
    (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"],
     ["S-PER", "B-PER", "E-PER"]),
    (["I-PER", "I-LOC", "O"], ["B-PER", "B-LOC", "O"], ["S-PER", "S-LOC", "O"]),
    ([], [], []),
    (["O", "O"], ["O", "O"], ["O", "O"]),
]


@pytest.mark.parametrize("iob1, iob2, bioes", CASES)
def test_known_conversions(iob1, iob2, bioes):
    sequences = {"iob1": iob1, "iob2": iob2, "bioes": bioes}
    for source, tags in sequences.items():
        for target, expected in sequences.items():
            assert schemes.convert(tags, source, target) == expected, (source, target)


def test_random_round_trips():
    rng = random.Random(0)
    for _ in range(300):
        iob2 = random_iob2(rng, rng.randint(0, 12))
        assert schemes.tag_errors(iob2, "iob2") == []
        bioes = schemes.convert(iob2, "iob2", "bioes")
        assert schemes.tag_errors(bioes, "bioes") == []
        assert schemes.convert(bioes, "bioes", "iob2") == iob2
        iob1 = schemes.convert(iob2, "iob2", "iob1")
        assert schemes.convert(iob1, "iob1", "iob2") == iob2
        assert schemes.convert(iob1, "iob1", "bioes") == bioes


def test_allowed_transitions_accept_every_valid_sequence():
    rng = random.Random(1)
    for scheme in ("iob2", "bioes"):
        vocabulary = schemes.TagVocabulary.build([["B-PER", "B-LOC"]], scheme)
        transitions, start, end = schemes.allowed_transitions(vocabulary.tags, scheme)
        for _ in range(200):
            tags = schemes.convert(random_iob2(rng, rng.randint(1, 10)), "iob2", scheme)
            ids = vocabulary.encode(tags)
            assert start[ids[0]] and end[ids[-1]], tags
            for a, b in zip(ids, ids[1:]):
                assert transitions[a, b], (tags, vocabulary.tags[a], vocabulary.tags[b])


def test_allowed_transitions_forbid_invalid_ones():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    transitions, start, end = schemes.allowed_transitions(tags, "iob2")
    index = {tag: i for i, tag in enumerate(tags)}
    assert not transitions[index["O"], index["I-PER"]]
    assert not transitions[index["B-LOC"], index["I-PER"]]
    assert transitions[index["B-PER"], index["I-PER"]]
    assert not start[index["I-LOC"]] and start[index["B-LOC"]]
    assert end.all()
    bioes = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    transitions, start, end = schemes.allowed_transitions(bioes, "bioes")
    assert not transitions[1, 0] and not transitions[1, 4] and transitions[1, 3]
    assert not end[1] and not end[2] and end[3] and end[4]


def test_errors_name_the_bad_tags():
    assert schemes.tag_errors(["O", "I-PER"], "iob2") == [
        (1, "tag 'I-PER' continues no entity (lone I-)")
    ]
    errors = schemes.tag_errors(["B-PER", "X-PER", "PER"], "iob2")
    assert [index for index, _ in errors] == [1, 2]
    assert "not in the IOB2 scheme" in errors[0][1]
    assert schemes.tag_errors(["B-PER", "O"], "bioes")[0][0] == 0
    assert schemes.tag_errors(["I-PER"], "iob1") == []
    assert schemes.tag_errors(["anything"], "none") == []


def test_repair_turns_lone_inside_tags_into_begin():
    tags, count = schemes.repair(["O", "I-PER", "I-PER", "I-LOC", "B-LOC"], "iob2")
    assert tags == ["O", "B-PER", "I-PER", "B-LOC", "B-LOC"]
    assert count == 2
    assert schemes.tag_errors(tags, "iob2") == []
    tags, count = schemes.repair(["E-PER", "O"], "bioes")
    assert (tags, count) == (["S-PER", "O"], 1)
    assert schemes.repair(["I-PER"], "iob1") == (["I-PER"], 0)


def test_vocabulary_has_every_prefix_of_each_type():
    vocabulary = schemes.TagVocabulary.build([["B-PER", "O"], ["B-LOC"]], "bioes")
    assert vocabulary.tags[0] == "O"
    assert set(vocabulary.tags) == {"O"} | {f"{p}-{k}" for p in "BIES"
                                            for k in ("PER", "LOC")}
    assert vocabulary.decode(vocabulary.encode(["S-LOC", "O"])) == ["S-LOC", "O"]
    assert vocabulary.encode(["B-ORG"]) == [0]
    pos = schemes.TagVocabulary.build([["NOUN", "VERB"], ["ADJ"]], "none")
    assert pos.tags == ["ADJ", "NOUN", "VERB"]
    with pytest.raises(ValueError, match="scheme must be one of"):
        schemes.convert(["O"], "bilou", "iob2")
