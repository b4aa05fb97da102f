"""`tf.data` pipelines for padded batches of token ids, bucketed by length."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nlp_lstm.text.sentencepiece import BOS_ID, EOS_ID, sample_ids


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
    alternatives=(),
    pair_buckets: bool = False,
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
        alternatives: other segmentations of the corpus, `[(sources, targets),
            ...]` (subword regularization): a pass reads `sources, targets`,
            the next one the first alternative, and so on, each pass shuffled
            on its own.
        pair_buckets: bool. Bucket pairs by both lengths (`pair_bucket_key`)
            instead of the longer one: less padding on both sides, but a
            bucket for each pair of source and target buckets, which only an
            endless stream (`repeat`, training) fills: a single pass would
            end in many part-filled batches.
    """
    # The dataset holds only offsets into two flat id arrays: small to shuffle
    # and to checkpoint (the iterator state is saved with training checkpoints).
    copies = [(sources, targets), *alternatives]
    source_values, source_starts, source_lengths = _flatten(
        [row for copy, _ in copies for row in copy]
    )
    target_values, target_starts, target_lengths = _flatten(
        [row for _, copy in copies for row in copy]
    )
    dataset, end = None, 0
    for index, (copy, _) in enumerate(copies):
        part = slice(end, end + len(copy))
        end += len(copy)
        passage = tf.data.Dataset.from_tensor_slices(
            (source_starts[part], source_lengths[part],
             target_starts[part], target_lengths[part])
        )
        if shuffle_buffer:
            passage = passage.shuffle(
                shuffle_buffer,
                seed=None if seed is None else seed + index,
                reshuffle_each_iteration=True,
            )
        dataset = passage if dataset is None else dataset.concatenate(passage)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(
        lambda s, m, t, n: (source_values[s : s + m], target_values[t : t + n]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if pair_buckets:
        dataset = _batch_by_pair_buckets(
            dataset, batch_size, batch_tokens, bucket_width, max_length
        )
    else:
        boundaries = bucket_boundaries(max_length + 2, bucket_width)
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda s, t: tf.maximum(
                tf.shape(s)[0], tf.shape(t)[0]
            ),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=bucket_batch_sizes(boundaries, batch_size, batch_tokens),
            drop_remainder=False,
        )
    dataset = dataset.map(
        lambda s, t: ((s, t[:, :-1]), t[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _buckets_per_side(width: int, max_length: int) -> int:
    """Length buckets of one side of a pair (targets are `max_length + 1`
    long at most, with BOS and EOS)."""
    return max_length // width + 2


def pair_bucket_key(source_length, target_length, width: int, max_length: int):
    """The bucket of a pair by both its lengths: `source_length // width` and
    `target_length // width`, as one int64 (the target's bucket varies
    fastest). Keyed by the longer side alone (4 wide), Multi30k's training
    batches padded 16% of the source and 13% of the target tokens; by both,
    2 wide, about 3% of each (simulated; 1.5% of the benchmark's batches:
    docs/benchmarks.md, "Translation batches bucketed by both lengths")."""
    per_side = _buckets_per_side(width, max_length)
    return tf.cast(source_length // width, tf.int64) * per_side + tf.cast(
        target_length // width, tf.int64
    )


def _batch_by_pair_buckets(dataset, batch_size: int, batch_tokens: int,
                           width: int, max_length: int):
    """`translation_dataset`'s batching with `pair_bucket_key`: full batches
    of pairs that share both length buckets (with `batch_tokens`, as many
    pairs as fit it at the bucket's longer upper length)."""
    per_side = _buckets_per_side(width, max_length)

    def key(source, target):
        lengths = tf.shape(source)[0], tf.shape(target)[0]
        return pair_bucket_key(*lengths, width, max_length)

    def size(bucket):
        if not batch_tokens:
            return tf.constant(batch_size, tf.int64)
        longer = tf.maximum(bucket // per_side, bucket % per_side)
        upper = (longer + 1) * width  # the longer side's bucket's upper length
        return tf.maximum(tf.constant(batch_tokens, tf.int64) // upper, 1)

    return dataset.group_by_window(
        key_func=key,
        reduce_func=lambda bucket, pairs: pairs.padded_batch(size(bucket)),
        window_size_func=size,
    )


def encode_split(config, source_processor, target_processor, data):
    """`(sources, targets, dropped)`: the SentencePiece ids of a corpus split's
    pairs (`data["source"]`, `data["target"]`) within `config.data.max_length`.

    Args:
        config: `TranslationConfig`.
        source_processor, target_processor: SentencePiece processors.
        data: a split of `load_parallel_corpus`.
    """
    return translation_examples(
        source_processor.encode(list(data["source"])),
        target_processor.encode(list(data["target"])),
        config.data.max_length,
    )


def lowercased_pairs(config, source_processor, target_processor, data):
    """`(sources, targets)`: `config.data.lowercase_sources` of a split's pairs
    again, with the source lower-cased, encoded as `encode_split` encodes them
    (none when it is 0). Drawn among the pairs whose source changes when
    lower-cased, seeded with `config.training.seed`."""
    fraction = config.data.lowercase_sources
    if not fraction:
        return [], []
    sources, targets = list(data["source"]), list(data["target"])
    changing = [i for i, source in enumerate(sources) if source.lower() != source]
    count = round(fraction * len(sources))
    rng = np.random.default_rng(config.training.seed)
    size = min(count, len(changing))
    chosen = np.sort(rng.choice(changing, size=size, replace=False))
    kept = translation_examples(
        source_processor.encode([sources[i].lower() for i in chosen]),
        target_processor.encode([targets[i] for i in chosen]),
        config.data.max_length,
    )
    return kept[0], kept[1]


def sampled_segmentations(config, source_processor, target_processor, data):
    """`config.data.sampling_copies` segmentations of a split's pairs sampled
    from the SentencePiece models (subword regularization with
    `config.data.sampling_alpha`), each `(sources, targets)` as
    `encode_split` gives them (pairs over `max_length` pieces left out of that
    copy); none when `sampling_alpha` is 0. Seeded with `config.training.seed`."""
    alpha = config.data.sampling_alpha
    if not alpha:
        return []
    copies = []
    for index in range(config.data.sampling_copies):
        # One seed per copy, both sides drawn after it: the same copies on
        # every run of a seed, and a resumed run trains on what it started on.
        seed = config.training.seed * 1000 + index
        sources = sample_ids(source_processor, data["source"], alpha, seed)
        targets = sample_ids(target_processor, data["target"], alpha, None)
        kept = translation_examples(sources, targets, config.data.max_length)
        copies.append(kept[:2])
    return copies


def translation_training_dataset(config, sources, targets,
                                 alternatives=()) -> tf.data.Dataset:
    """The endless, shuffled, length-bucketed batches a translator trains on
    (`config.data` settings, seeded with `config.training.seed`); passes read
    `sources, targets` and then each of `alternatives` (other segmentations,
    `sampled_segmentations`) in turn."""
    data = config.data
    return translation_dataset(
        sources,
        targets,
        batch_size=data.batch_size,
        batch_tokens=data.batch_tokens,
        bucket_width=data.bucket_width,
        max_length=data.max_length,
        shuffle_buffer=data.shuffle_buffer,
        seed=config.training.seed,
        repeat=True,
        alternatives=alternatives,
        pair_buckets=data.pair_buckets,
    )


# Tagging batches: sentences of one length (buckets this many tokens wide),
# for corpora whose longest sentence fits `TAGGING_BUCKETS` buckets. Buckets 4
# tokens wide padded 8.8% of the benchmark tagger's tokens (UD English-EWT,
# batch 64); one length a batch pads none and trained 7-9% more real tokens a
# second (docs/benchmarks.md, "Tagging batches of one length").
TAGGING_BUCKET_WIDTH = 1
TAGGING_BUCKETS = 128
TAGGING_EVAL_BATCH_SIZE = 128


def pad_rows(rows, length: int, value, dtype) -> np.ndarray:
    """Rows cut to `length` and padded with `value`, `(len(rows), length)`."""
    array = np.full((len(rows), length), value, dtype=dtype)
    for index, row in enumerate(rows):
        row = list(row)[:length]
        array[index, : len(row)] = row
    return array


def tagging_training_dataset(tokens, tag_ids, max_length: int, batch_size: int,
                             shuffle_buffer: int, seed: int,
                             pad: str = "") -> tf.data.Dataset:
    """Endless shuffled batches `(tokens, tag_ids)` of sentences of one
    length (of similar lengths where the longest sentence is over
    `TAGGING_BUCKETS` tokens), padded with `pad` and 0 to the longest sentence
    of the batch; sentences are cut to `max_length` tokens.

    Strings go in and are featurized in the training step (not in `tf.data`),
    so that the iterator holds no lookup table and can be checkpointed.
    """
    lengths = np.array([min(len(row), max_length) for row in tokens], np.int32)
    longest = int(lengths.max())
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            pad_rows(tokens, longest, pad, object),
            pad_rows(tag_ids, longest, 0, np.int32),
            lengths,
        )
    )
    dataset = dataset.shuffle(min(shuffle_buffer, len(lengths)), seed=seed)
    # Batches of sentences of one length: batching in corpus order padded
    # about 70% of the tokens of UD English-EWT batches. Long sequences
    # (documents) get wider buckets, at most `TAGGING_BUCKETS` of them.
    width = max(TAGGING_BUCKET_WIDTH, -(-longest // TAGGING_BUCKETS))
    boundaries = bucket_boundaries(longest, width)
    dataset = dataset.repeat().bucket_by_sequence_length(
        element_length_func=lambda tokens, tags, length: length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )

    def trim(batch_tokens, batch_tags, batch_lengths):
        longest = tf.reduce_max(batch_lengths)
        return batch_tokens[:, :longest], batch_tags[:, :longest]

    return dataset.map(trim).prefetch(2)


def tagging_evaluation_batches(tokens, tag_ids,
                               batch_size: int = TAGGING_EVAL_BATCH_SIZE,
                               pad: str = ""):
    """Batches sorted by length: a list of `(indices, tokens, tag_ids)`."""
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        longest = max(1, max(len(tokens[i]) for i in indices))
        batch_tokens = pad_rows([tokens[i] for i in indices], longest, pad, object)
        batch_tags = pad_rows([tag_ids[i] for i in indices], longest, 0, np.int32)
        batches.append((indices, tf.constant(batch_tokens), tf.constant(batch_tags)))
    return batches
