"""`tf.data` pipelines for padded batches of token ids, bucketed by length."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nlp_lstm.text.sentencepiece import BOS_ID, EOS_ID


def bucket_boundaries(max_length: int, width: int) -> list[int]:
    """Boundaries `width, 2 * width, ...` up to (and past) `max_length`."""
    return list(range(width, max_length + width, width))


def bucket_batch_sizes(boundaries, batch_size: int, batch_tokens: int) -> list[int]:
    """One batch size per bucket: fixed, or as many sentences as fit `batch_tokens`."""
    upper = list(boundaries) + [boundaries[-1] + 1]
    if not batch_tokens:
        return [batch_size] * len(upper)
    return [max(1, batch_tokens // bound) for bound in upper]


def translation_examples(source_ids, target_ids, max_length: int):
    """Adds special ids and drops pairs over `max_length` tokens.

    Returns `(sources, targets, dropped)`: sources end with EOS; targets are
    `[BOS] + ids + [EOS]` (split into decoder input and labels when batching).
    """
    sources, targets, dropped = [], [], 0
    for source, target in zip(source_ids, target_ids, strict=True):
        if (
            not source
            or not target
            or len(source) >= max_length
            or len(target) >= max_length
        ):
            dropped += 1
            continue
        sources.append(list(source) + [EOS_ID])
        targets.append([BOS_ID] + list(target) + [EOS_ID])
    return sources, targets, dropped


def _flatten(rows):
    """`(values, starts, lengths)` of a list of id lists."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    values = np.fromiter(
        (t for r in rows for t in r), dtype=np.int32, count=int(lengths.sum())
    )
    return tf.constant(values), starts, lengths


def translation_dataset(
    sources,
    targets,
    batch_size: int = 64,
    batch_tokens: int = 0,
    bucket_width: int = 4,
    max_length: int = 64,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches `((source, target_in), target_out)` with length bucketing.

    Args:
        sources: lists of ids ending with EOS.
        targets: lists `[BOS] + ids + [EOS]`.
        batch_size: int. Sentences per batch (when `batch_tokens` is 0).
        batch_tokens: int. If set, sentences per batch are chosen so that
            `sentences * bucket_length <= batch_tokens`.
        bucket_width: int. Width of the length buckets.
        shuffle_buffer: int. 0 keeps the order (evaluation).
        seed: int. Shuffle seed.
        repeat: bool. Loop forever (training).
    """
    # The dataset holds only offsets into two flat id arrays: small to shuffle
    # and to checkpoint (the iterator state is saved with training checkpoints).
    source_values, source_starts, source_lengths = _flatten(sources)
    target_values, target_starts, target_lengths = _flatten(targets)
    dataset = tf.data.Dataset.from_tensor_slices(
        (source_starts, source_lengths, target_starts, target_lengths)
    )
    if shuffle_buffer:
        dataset = dataset.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(
        lambda s, m, t, n: (source_values[s : s + m], target_values[t : t + n]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    boundaries = bucket_boundaries(max_length + 2, bucket_width)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda s, t: tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
        bucket_boundaries=boundaries,
        bucket_batch_sizes=bucket_batch_sizes(boundaries, batch_size, batch_tokens),
        drop_remainder=False,
    )
    dataset = dataset.map(
        lambda s, t: ((s, t[:, :-1]), t[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
