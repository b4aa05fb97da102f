"""Vocabulary selection for decoding: a lexical shortlist.

Projecting a decoder step onto the whole target vocabulary is most of a
search's arithmetic (at the Multi30k size, 256 x 8,000 of the ~430 MFLOP a
64-row step costs), yet a batch's translations draw on few pieces: those that
translate its source pieces and the frequent ones. A `Shortlist` keeps, for
every source piece, the `size` target pieces most likely to translate it
(IBM Model 1 lexical probabilities `t(target | source)` estimated on the
training corpus, Brown et al. 1993), plus the `frequent` most frequent target
pieces; a search then projects onto the union of its batch's lists only
(`candidate_ids`), as Marian's lexical shortlists and CTranslate2's vocabulary
maps do. The scores a search reports are then normalized over that union; a
translation changes only where the full vocabulary's best piece is missing
from it.

With a joint vocabulary (`copy_source`) every source piece is also a
candidate of itself, so that names and numbers can be copied.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import tensorflow as tf

from nlp_lstm.text.sentencepiece import EOS_ID
from nlp_lstm.utils.files import atomic_write_bytes

# The sentence pairs the lexical probabilities are estimated on, at most: the
# estimate holds every source/target position pair of them in memory (about
# 16 x 18 of them a Multi30k pair, ~25 bytes each: 100,000 pairs take ~1 GB).
MAX_PAIRS = 100_000


@dataclasses.dataclass(eq=False)
class Shortlist:
    """The candidate target pieces of each source piece (compared and hashed
    by identity, as `tf.function` needs of the arguments it is bound to).

    Attributes:
        table: int32 `(source_vocab, size)`: row `s` holds the `size` target
            ids most likely to translate source id `s` (rows of pieces never
            seen in training, and short rows, are filled with `fill_id`).
        frequent: int32 `(n,)`: target ids that are always candidates (the
            most frequent target pieces, the end-of-sentence id).
        copy_source: bool. Every source id is also a candidate target id
            (joint vocabularies).
    """

    table: np.ndarray
    frequent: np.ndarray
    copy_source: bool

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            table=self.table,
            frequent=self.frequent,
            copy_source=np.array(self.copy_source),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Shortlist:
        with np.load(io.BytesIO(data)) as arrays:
            return cls(
                table=arrays["table"].astype(np.int32),
                frequent=arrays["frequent"].astype(np.int32),
                copy_source=bool(arrays["copy_source"]),
            )

    def save(self, path: str) -> None:
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str) -> Shortlist:
        with open(path, "rb") as file:
            return cls.from_bytes(file.read())


def lexical_probabilities(pairs, source_vocab: int, iterations: int = 5):
    """IBM Model 1 translation probabilities `t(target | source)` by EM.

    Args:
        pairs: sequence of `(source_ids, target_ids)` integer sequences (no
            BOS/EOS); at most `MAX_PAIRS` are read.
        source_vocab: int. Source ids are below it; id `source_vocab` stands
            for the empty word (NULL) that every target piece may align to.
        iterations: int. EM iterations (from uniform probabilities).

    Returns:
        `(sources, targets, probabilities)`: one entry per source/target pair
        that co-occurs in a sentence pair, sorted by source then target id.
    """
    null = source_vocab
    combo_sources, combo_targets, combo_groups = [], [], []
    group = 0
    for source, target in pairs[:MAX_PAIRS]:
        source = np.append(np.asarray(source, np.int32), null)
        target = np.asarray(target, np.int32)
        if not len(target):
            continue
        # Every (source, target) position pair; a group is one target position.
        combo_sources.append(np.tile(source, len(target)))
        combo_targets.append(np.repeat(target, len(source)))
        positions = np.arange(group, group + len(target), dtype=np.int32)
        combo_groups.append(np.repeat(positions, len(source)))
        group += len(target)
    if not group:
        raise ValueError(
            "a shortlist needs sentence pairs with target pieces, got none"
        )
    sources = np.concatenate(combo_sources)
    targets = np.concatenate(combo_targets)
    groups = np.concatenate(combo_groups)
    width = int(targets.max()) + 1
    keys, combo_keys = np.unique(
        sources.astype(np.int64) * width + targets, return_inverse=True
    )
    key_sources, key_targets = keys // width, keys % width
    probabilities = np.ones(len(keys))
    for _ in range(iterations):
        weights = probabilities[combo_keys]
        # Each target position's alignment posterior over its pair's sources.
        totals = np.bincount(groups, weights=weights, minlength=group)
        posteriors = weights / totals[groups]
        counts = np.bincount(combo_keys, weights=posteriors, minlength=len(keys))
        source_totals = np.bincount(key_sources, weights=counts, minlength=null + 1)
        probabilities = counts / source_totals[key_sources]
    return key_sources, key_targets, probabilities


def build_shortlist(
    pairs,
    source_vocab: int,
    size: int,
    frequent: int,
    fill_id: int,
    copy_source: bool,
    iterations: int = 5,
) -> Shortlist:
    """A `Shortlist` estimated on `pairs` (see `lexical_probabilities`):
    each source id's `size` most probable target ids, and the `frequent`
    most frequent target ids of the pairs plus `fill_id` (the
    end-of-sentence id, a candidate of every batch)."""
    if size < 1:
        raise ValueError(f"shortlist size must be a positive integer, got {size}")
    if frequent < 0:
        raise ValueError(f"shortlist frequent must be >= 0, got {frequent}")
    sources, targets, probabilities = lexical_probabilities(
        pairs, source_vocab, iterations
    )
    real = sources < source_vocab  # the NULL word's row is not kept
    sources, targets, probabilities = sources[real], targets[real], probabilities[real]
    # Within each source, by probability (ties: lower target id first).
    order = np.lexsort((targets, -probabilities, sources))
    sources, targets = sources[order], targets[order]
    starts = np.searchsorted(sources, np.arange(source_vocab))
    ranks = np.arange(len(sources)) - starts[sources]
    kept = ranks < size
    table = np.full((source_vocab, size), fill_id, np.int32)
    table[sources[kept], ranks[kept]] = targets[kept]
    counts = np.bincount(
        np.concatenate([np.asarray(t, np.int64) for _, t in pairs[:MAX_PAIRS]])
    )
    most_frequent = np.argsort(-counts, kind="stable")[:frequent]
    always = np.union1d(most_frequent[counts[most_frequent] > 0], [fill_id])
    return Shortlist(table, always.astype(np.int32), bool(copy_source))


def training_shortlist(config, sources, targets, source_vocab: int):
    """The shortlist of `config.decoding` (`shortlist` per source piece,
    `shortlist_frequent`) estimated on a run's training pairs, ids as the
    pipeline batches them (sources end with EOS, targets are BOS ... EOS);
    None when `config.decoding.shortlist` is 0."""
    decoding = config.decoding
    if not decoding.shortlist:
        return None
    return build_shortlist(
        [(source[:-1], target[1:-1]) for source, target in zip(sources, targets)],
        source_vocab,
        size=decoding.shortlist,
        frequent=decoding.shortlist_frequent,
        fill_id=EOS_ID,
        copy_source=config.tokenizer.shared,
    )


def candidate_ids(
    source_ids, table, frequent, vocab_size: int, copy_source, minimum: int = 1
):
    """The sorted target ids a batch's search may output, int32 `(n,)`:
    the table rows of its source ids (padding included: the padding id's row
    holds the fill id only), the always-candidates, with `copy_source` the
    source ids themselves, and ids `0 .. minimum - 1` (so that a beam search
    of `minimum` hypotheses has that many candidates)."""
    source_ids = tf.reshape(tf.cast(source_ids, tf.int32), [-1])
    ids = [
        tf.reshape(tf.gather(table, source_ids), [-1]),
        tf.cast(frequent, tf.int32),
        tf.range(minimum),
    ]
    if copy_source:
        ids.append(source_ids)
    ids = tf.concat(ids, axis=0)
    present = tf.math.bincount(ids, minlength=vocab_size, maxlength=vocab_size)
    return tf.cast(tf.where(present > 0)[:, 0], tf.int32)


# A search's shortlist is padded to a multiple of this many columns: oneDNN
# (TensorFlow's CPU kernels for bfloat16, and TF Serving's for every
# precision) makes its matmul and softmax primitives per shape, and each
# batch's own candidate count would be a new one.
COLUMN_MULTIPLE = 128
# The bias of a padding column: its logit is never the largest, and its
# probability is 0 in float32.
PADDING_BIAS = -1e9


def padded_columns(ids, bias, multiple: int = COLUMN_MULTIPLE):
    """`(columns, column_bias)`: `ids` (`candidate_ids`) then id 0 up to a
    multiple of `multiple` columns, and the output bias of each column,
    `PADDING_BIAS` on the padding, so that a search over them chooses and
    scores as over `ids`."""
    count = tf.size(ids)
    width = (count + multiple - 1) // multiple * multiple
    columns = tf.concat([ids, tf.zeros([width - count], ids.dtype)], axis=0)
    real = tf.range(width) < count
    column_bias = tf.where(real, tf.gather(bias, columns), PADDING_BIAS)
    return columns, column_bias
