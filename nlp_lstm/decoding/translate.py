"""Token-id translation with a `Translator`: encode once, then search."""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.config import DecodingConfig
from nlp_lstm.decoding import shortlist as shortlist_lib
from nlp_lstm.decoding.search import beam_search, greedy_search
from nlp_lstm.layers import linear
from nlp_lstm.text.sentencepiece import EOS_ID
from nlp_lstm.text.unicode import normalize_spaces


def max_output_lengths(source_lengths, ratio: float, offset: int):
    """Allowed output tokens per sentence: `ceil(ratio * source_length) + offset`."""
    lengths = tf.math.ceil(ratio * tf.cast(source_lengths, tf.float32))
    return tf.cast(lengths, tf.int32) + offset


# The attention of a search with dynamic shapes (a SavedModel) reads the
# source padded to a multiple of this many steps: oneDNN, which runs
# TensorFlow's CPU kernels for bfloat16 (and TF Serving's for every
# precision), makes a kernel for each shape it meets and keeps it; with the
# shortlist's columns (`shortlist.COLUMN_MULTIPLE`) and the live batch sizes
# (`search.LIVE_SIZES`) bucketed too, a server meets few new shapes.
SOURCE_MULTIPLE = 8


def translate_ids(
    model,
    source_ids,
    beam_size: int = 1,
    length_penalty: float = 0.6,
    max_length_ratio: float = 1.5,
    max_length_offset: int = 10,
    max_lengths=None,
    eos_id=None,
    encoder_fn=None,
    return_attention: bool = False,
    shrink: bool = True,
    precision: str = "float32",
    nbest: bool = False,
    weights=None,
    transposed_kernels: bool = True,
    shortlist=None,
    source_multiple: int = SOURCE_MULTIPLE,
):
    """Translates a padded batch of source ids (each ending with EOS).

    Args:
        model: a `Translator`.
        source_ids: int `(batch, time)`, right-padded with `model.pad_id`.
        beam_size: int. 1 searches greedily.
        length_penalty: float. GNMT length penalty alpha of the beam search.
        max_length_ratio, max_length_offset: the default output length limit,
            `ceil(ratio * source_tokens) + offset`.
        max_lengths: int `(batch,)` or None. Output tokens before a forced
            EOS; values <= 0 take the default limit.
        eos_id: int scalar (tensor) or None for `model.eos_id`.
        encoder_fn: callable or None. Passed to `model.encode`.
        return_attention: bool. Also return the attention weights of the
            best hypothesis (`attention`, `(batch, time, source)`).
        shrink: bool. Drop finished sentences from the batch during the
            search (`nlp_lstm.decoding.search`); False for TFLite.
        precision: str. The matmuls' arithmetic (`decoding.precision`,
            `layers.linear.matmul_precision`); float32 for TFLite.
        nbest: bool. Beam search returns every hypothesis of the final beam
            (`nbest_ids`, `nbest_scores`); without, each sentence's search
            stops once its best hypothesis is decided.
        weights: `model.decoding_weights()` made ahead, in the same
            `precision` (`decoding_variables`: an export keeps them as
            variables), or None to make them here, once per search. With an
            `encoder_table`, `encoder_fn` is called with the source ids and
            `input_table=` (`Translator.encode`).
        transposed_kernels: bool. The decoder's cells multiply by their
            kernels kept transposed (`AttentionDecoder.inference_weights`),
            faster in TensorFlow on CPU; False for TFLite.
        shortlist: a `nlp_lstm.decoding.shortlist.Shortlist` (its arrays may
            be tensors or variables) or None. The search projects onto the
            target ids that the batch's source ids shortlist only
            (`shortlist.candidate_ids`); scores are normalized over them.
            Not for TFLite (the candidates' number varies).
        source_multiple: int. The attention reads the encoder's outputs
            padded (masked) to a multiple of this many steps, so that a
            step's attention products see few shapes across batches (see
            `SOURCE_MULTIPLE`); 1 for TFLite.

    Returns the dict of `nlp_lstm.decoding.search.greedy_search` (`ids`,
    `lengths`, `scores`; beam search with `nbest` adds the n-best lists).
    """
    with linear.matmul_precision(precision):
        source_ids = tf.cast(source_ids, tf.int32)
        encoder_table = None if weights is None else weights.get("encoder_table")
        memory, mask, state = model.encode(
            source_ids,
            training=False,
            encoder_fn=encoder_fn,
            encoder_table=_read(encoder_table),
        )
        source_steps = tf.shape(source_ids)[1]
        memory, mask = _pad_steps(memory, mask, source_multiple)
        constants = model.decoding_constants(memory, mask)
        # The EOS that ends every source is not counted in its length.
        source_lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1
        default_lengths = max_output_lengths(
            source_lengths, max_length_ratio, max_length_offset
        )
        if max_lengths is None:
            max_lengths = default_lengths
        else:
            max_lengths = tf.where(max_lengths > 0, max_lengths, default_lengths)
        # The weights a step reads: prepared once per search at most, and
        # read once, not at every step.
        if weights is None:
            weights = model.decoding_weights(transposed_kernels)
        weights = tf.nest.map_structure(_read, weights)
        output_ids = None
        if shortlist is not None:
            output_ids, output_bias = shortlist_lib.padded_columns(
                shortlist_lib.candidate_ids(
                    source_ids,
                    shortlist.table,
                    shortlist.frequent,
                    model.output_projection.vocab_size,
                    shortlist.copy_source,
                    minimum=beam_size,
                ),
                model.output_projection.bias,
            )
            weights = dict(
                weights,
                output_kernel=model.output_kernel_columns(
                    output_ids, weights["output_kernel"]
                ),
                output_bias=output_bias,
            )
        step_fn = functools.partial(model.decoding_step, weights=weights)

        common = dict(
            step_fn=step_fn,
            state=state,
            constants=constants,
            bos_id=model.bos_id,
            eos_id=model.eos_id if eos_id is None else eos_id,
            max_lengths=max_lengths,
            source_length=tf.shape(memory)[1],
            return_attention=return_attention,
            shrink=shrink,
            output_ids=output_ids,
        )
        if beam_size == 1:
            result = greedy_search(**common)
        else:
            result = beam_search(
                beam_size=beam_size,
                length_penalty=length_penalty,
                nbest=nbest,
                **common,
            )
        if return_attention:
            result["attention"] = result["attention"][..., :source_steps]
        return result


def _pad_steps(memory, mask, multiple):
    """`memory` `(batch, time, features)` and its `mask` `(batch, time)`
    padded (zeros, False) to a multiple of `multiple` steps."""
    if multiple == 1:
        return memory, mask
    steps = tf.shape(memory)[1]
    extra = (multiple - steps % multiple) % multiple
    memory = tf.pad(memory, [[0, 0], [0, extra], [0, 0]])
    return memory, tf.pad(mask, [[0, 0], [0, extra]], constant_values=False)


def _read(value):
    return None if value is None else tf.convert_to_tensor(value)


def decoding_variables(
    model, precision: str = "float32", shortlist: bool = False,
    input_tables: bool = True,
):
    """`model.decoding_weights()` in `precision` for `translate_ids(weights=)`,
    made once: what a search would otherwise compute at every call (the tied
    output kernel, the embeddings transposed, took 10 ms a call on one core,
    half of a one-sentence greedy translation; the LSTM cells' merged
    kernels) becomes a non-trainable variable, a copy (call this again after
    the model's weights change); the model's own variables stay themselves.
    With `input_tables`, the products with every embedding that a search
    looks up by token id (`Translator.decoding_weights`): an LSTM-family
    decoder's first cell's (instead of a third of that cell's matmul a
    step) and the encoder's first layer's input projections (instead of its
    two largest matmuls); each a `(vocab, gates * units)` table a direction.
    For searches that always take a `shortlist`, a tied model's output
    kernel is not copied: they read its columns as rows of the embeddings
    (`Translator.output_kernel_columns`)."""
    with linear.matmul_precision(precision):
        weights = model.decoding_weights(input_tables=input_tables)
    if shortlist and model.output_projection.tied:
        weights["output_kernel"] = None

    def variable(value):
        if value is None or isinstance(value, (tf.Variable, keras.Variable)):
            return value
        return tf.Variable(value, trainable=False)

    return tf.nest.map_structure(variable, weights)


def source_row(ids: list[int], max_source_tokens: int) -> list[int]:
    """A source as the model reads it: its SentencePiece ids cut to
    `max_source_tokens`, then EOS (the exported graphs do the same in TF)."""
    return list(ids[:max_source_tokens]) + [EOS_ID]


class TextTranslator:
    """Translates Python strings with an in-memory `Translator`.

    Source text is encoded with the Python SentencePiece processor (the same
    model the exported graph runs with tensorflow-text), batched by length,
    decoded in a compiled `tf.function` (over a `shortlist` of the
    vocabulary when given, as the SavedModel) and detokenized.
    """

    def __init__(
        self,
        model,
        source_processor,
        target_processor,
        beam_size: int = 1,
        length_penalty: float = 0.6,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
        max_source_tokens: int = DecodingConfig.max_source_tokens,
        precision: str = "float32",
        shortlist=None,
    ):
        self.model = model
        self.source_processor = source_processor
        self.target_processor = target_processor
        self.max_source_tokens = max_source_tokens
        search = functools.partial(
            translate_ids,
            model,
            beam_size=beam_size,
            length_penalty=length_penalty,
            max_length_ratio=max_length_ratio,
            max_length_offset=max_length_offset,
            precision=precision,
            shortlist=shortlist,
        )
        spec = [tf.TensorSpec([None, None], tf.int32)]
        self._translate = tf.function(search, input_signature=spec, autograph=False)
        # Traced on the first `align`.
        self._align = tf.function(
            functools.partial(search, return_attention=True), input_signature=spec,
            autograph=False,
        )

    def __call__(self, texts: list[str], batch_size: int = 64) -> list[str]:
        # As the exports: a text with no piece translates to "".
        texts = [normalize_spaces(text) for text in texts]
        encoded = self.source_processor.encode(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        outputs = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            chunk = [i for i in order[start : start + batch_size] if encoded[i]]
            if not chunk:
                continue
            rows = [source_row(encoded[i], self.max_source_tokens) for i in chunk]
            width = max(len(row) for row in rows)
            padded = [row + [0] * (width - len(row)) for row in rows]
            result = self._translate(tf.constant(padded, tf.int32))
            ids, lengths = result["ids"].numpy(), result["lengths"].numpy()
            decoded = self.target_processor.decode(
                [ids[j, : lengths[j]].tolist() for j in range(len(chunk))]
            )
            for i, text in zip(chunk, decoded, strict=True):
                outputs[i] = text
        return outputs

    def align(self, texts: list[str]) -> list[dict]:
        """Translations with the attention weights behind them, one sentence
        at a time (as `__call__` translates them).

        Returns:
            One dict per text: `translation`, `source_pieces` (the pieces
            the model read, then `</s>`), `target_pieces` (the output's, then
            `</s>` when it ended before the length limit) and `weights`, a
            float array `(len(target_pieces), len(source_pieces))` whose row
            `t` is the attention of output step `t` over the source.
        """
        aligned = []
        for text in texts:
            encoded = self.source_processor.encode(normalize_spaces(text))
            if not encoded:
                aligned.append({"translation": "", "source_pieces": [],
                                "target_pieces": [], "weights": np.zeros((0, 0))})
                continue
            row = source_row(encoded, self.max_source_tokens)
            result = self._align(tf.constant([row], tf.int32))
            length = int(result["lengths"].numpy()[0])
            ids = result["ids"].numpy()[0]
            ended = length < len(ids) and int(ids[length]) == EOS_ID
            steps = length + int(ended)
            weights = result["attention"].numpy()[0, :steps, : len(row)]
            target = self.target_processor
            aligned.append({
                "translation": target.decode(ids[:length].tolist()),
                "source_pieces": [self.source_processor.id_to_piece(i)
                                  for i in row[:-1]] + ["</s>"],
                "target_pieces": [target.id_to_piece(int(i)) for i in ids[:length]]
                + ["</s>"] * ended,
                "weights": weights,
            })
        return aligned
