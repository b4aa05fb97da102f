"""A lexical shortlist: IBM Model 1 estimates, the candidates of a batch, and
searches over them checked against the definition (the full vocabulary's
logits with every other id masked out)."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.decoding import shortlist as shortlist_lib
from nlp_lstm.decoding.shortlist import (
    COLUMN_MULTIPLE,
    PADDING_BIAS,
    Shortlist,
    build_shortlist,
    candidate_ids,
    padded_columns,
)
from nlp_lstm.decoding.translate import (
    SOURCE_MULTIPLE,
    decoding_variables,
    translate_ids,
)
from nlp_lstm.text.sentencepiece import EOS_ID
from tests import helpers

VOCAB = 40
EOS = EOS_ID
# "a" = 10 translates as 20, "b" = 11 as 21, "c" = 12 as 22; 30 is frequent
# (it ends every target), so it explains nothing.
PAIRS = [
    ([10, 11], [20, 21, 30]),
    ([10, 12], [20, 22, 30]),
    ([11, 12], [21, 22, 30]),
    ([10], [20, 30]),
    ([11, 10, 12], [21, 20, 22, 30]),
]


def test_ibm1_finds_each_source_piece_s_translation():
    sources, targets, probabilities = shortlist_lib.lexical_probabilities(
        PAIRS, VOCAB, iterations=10
    )
    table = {(s, t): p for s, t, p in zip(sources, targets, probabilities)}
    for source, expected in ((10, 20), (11, 21), (12, 22)):
        row = {t: p for (s, t), p in table.items() if s == source}
        assert max(row, key=row.get) == expected, (source, row)
        assert sum(row.values()) == pytest.approx(1.0)
    # The frequent piece is best explained by the empty word.
    null_row = {t: p for (s, t), p in table.items() if s == VOCAB}
    assert max(null_row, key=null_row.get) == 30


def test_build_shortlist_keeps_the_best_and_fills_the_rest():
    shortlist = build_shortlist(
        PAIRS, VOCAB, size=2, frequent=1, fill_id=EOS, copy_source=True, iterations=10
    )
    assert shortlist.table.shape == (VOCAB, 2)
    assert shortlist.table.dtype == np.int32
    assert shortlist.table[10, 0] == 20 and shortlist.table[11, 0] == 21
    assert shortlist.table[12, 0] == 22
    assert (shortlist.table[0] == EOS).all()  # never seen: the fill id only
    np.testing.assert_array_equal(shortlist.frequent, [EOS, 30])
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        build_shortlist(PAIRS, VOCAB, size=0, frequent=1, fill_id=EOS, copy_source=True)


def test_a_shortlist_survives_bytes_and_files(tmp_path):
    shortlist = build_shortlist(PAIRS, VOCAB, 3, 2, EOS, copy_source=False)
    path = str(tmp_path / "shortlist.npz")
    shortlist.save(path)
    loaded = Shortlist.load(path)
    np.testing.assert_array_equal(loaded.table, shortlist.table)
    np.testing.assert_array_equal(loaded.frequent, shortlist.frequent)
    assert loaded.copy_source is False


@pytest.mark.parametrize("copy_source", [True, False])
def test_candidate_ids_are_the_sorted_union(copy_source):
    rng = np.random.default_rng(0)
    table = rng.integers(0, VOCAB, size=(VOCAB, 3)).astype(np.int32)
    frequent = np.array([2, 7], np.int32)
    source = np.array([[5, 9, 1], [33, 0, 0]], np.int32)
    got = candidate_ids(source, table, frequent, VOCAB, copy_source, minimum=4)
    expected = set(table[source.reshape(-1)].reshape(-1)) | {2, 7} | set(range(4))
    if copy_source:
        expected |= set(source.reshape(-1))
    np.testing.assert_array_equal(got.numpy(), sorted(expected))


def test_padded_columns_fill_a_multiple_with_columns_never_chosen():
    ids = tf.constant([3, 8, 20], tf.int32)
    bias = tf.range(VOCAB, dtype=tf.float32)
    columns, column_bias = padded_columns(ids, bias, multiple=4)
    np.testing.assert_array_equal(columns.numpy(), [3, 8, 20, 0])
    np.testing.assert_array_equal(column_bias.numpy(), [3.0, 8.0, 20.0, PADDING_BIAS])
    columns, _ = padded_columns(tf.range(8), bias, multiple=4)
    assert columns.shape == (8,)


def tiny_translator(tied: bool = True):
    return helpers.tiny_translator(VOCAB, tied=tied, seed=5)


class Masked:
    """`model` whose decoding logits keep the ids of `allowed` only (the
    others at -1e9): the definition a shortlisted search must equal."""

    def __init__(self, model, allowed):
        self._model = model
        self._mask = tf.constant(np.isin(np.arange(VOCAB), allowed))

    def __getattr__(self, name):
        return getattr(self._model, name)

    def decoding_step(self, ids, state, constants, group=1, weights=None):
        logits, state, attention = self._model.decoding_step(
            ids, state, constants, group=group, weights=weights
        )
        return tf.where(self._mask, logits, -1e9), state, attention


@pytest.mark.parametrize("exported", [False, True])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_shortlisted_search_is_the_search_over_its_candidates(
    beam_size, tied, exported
):
    """Also with an export's weights (`exported`: `decoding_variables` for a
    shortlist, which copies no output kernel when tied) and an untied
    output kernel (its columns gathered)."""
    model = tiny_translator(tied)
    weights = None
    if exported:
        weights = decoding_variables(model, shortlist=True)
        assert (weights["output_kernel"] is None) == tied
    source = tf.constant([[5, 9, 12, 2], [7, 2, 0, 0], [30, 31, 33, 2]], tf.int32)
    rng = np.random.default_rng(1)
    shortlist = Shortlist(
        table=rng.integers(4, VOCAB, size=(VOCAB, 2)).astype(np.int32),
        frequent=np.array([EOS, 5], np.int32),
        copy_source=False,
    )
    shortlist.table[0] = EOS
    allowed = candidate_ids(
        source, shortlist.table, shortlist.frequent, VOCAB, False, minimum=beam_size
    ).numpy()
    assert len(allowed) < VOCAB
    got = translate_ids(
        model, source, beam_size=beam_size, shortlist=shortlist, weights=weights
    )
    expected = translate_ids(Masked(model, allowed), source, beam_size=beam_size)
    np.testing.assert_array_equal(got["ids"].numpy(), expected["ids"].numpy())
    np.testing.assert_allclose(
        got["scores"].numpy(), expected["scores"].numpy(), rtol=1e-5, atol=1e-5
    )
    assert set(got["ids"].numpy().reshape(-1)) <= set(allowed) | {0}
    # The full vocabulary's search outputs ids the shortlist does not hold.
    full = translate_ids(model, source, beam_size=beam_size)
    assert not set(full["ids"].numpy().reshape(-1)) <= set(allowed) | {0}


class Recording:
    """`model` whose decoding steps record the widths of their logits and
    of the attention's memory."""

    def __init__(self, model):
        self._model = model
        self.widths = set()

    def __getattr__(self, name):
        return getattr(self._model, name)

    def decoding_step(self, ids, state, constants, group=1, weights=None):
        logits, state, attention = self._model.decoding_step(
            ids, state, constants, group=group, weights=weights
        )
        self.widths.add((int(logits.shape[-1]), int(constants[0].shape[1])))
        return logits, state, attention


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_search_steps_at_padded_widths(beam_size):
    # 5 source steps and a shortlist of fewer than 128 ids: the steps see
    # 128 columns and 8 source steps (oneDNN keeps a kernel per shape).
    model = Recording(tiny_translator())
    source = tf.constant([[5, 9, 12, 13, 2], [7, 2, 0, 0, 0]], tf.int32)
    shortlist = Shortlist(
        table=np.full((VOCAB, 2), 20, np.int32),
        frequent=np.array([EOS], np.int32),
        copy_source=True,
    )
    translate_ids(model, source, beam_size=beam_size, shortlist=shortlist)
    assert model.widths == {(COLUMN_MULTIPLE, SOURCE_MULTIPLE)}


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_shortlist_of_every_id_changes_nothing(beam_size):
    model = tiny_translator()
    source = tf.constant([[5, 9, 12, 2], [7, 2, 0, 0]], tf.int32)
    everything = Shortlist(
        table=np.tile(np.arange(VOCAB, dtype=np.int32), (VOCAB, 1)),
        frequent=np.array([EOS], np.int32),
        copy_source=True,
    )
    got = translate_ids(model, source, beam_size=beam_size, shortlist=everything)
    full = translate_ids(model, source, beam_size=beam_size)
    np.testing.assert_array_equal(got["ids"].numpy(), full["ids"].numpy())
    np.testing.assert_allclose(got["scores"].numpy(), full["scores"].numpy(), rtol=1e-5)
