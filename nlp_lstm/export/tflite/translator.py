"""A trained `Translator` as a TFLite module: fused encoder, in-file decoding.

Signatures (batch 1):

- `translate_greedy` and `translate_beam` (beam size fixed at export):
  `source_ids` int32 `(1, time)` (SentencePiece ids ending with EOS, may be
  right-padded with 0) or, with the in-graph tokenizer, `source` tf.string
  `(1,)`; `max_length` int32 `(1,)` (output tokens before a forced EOS; <= 0
  takes `ceil(ratio * source_tokens) + offset`); `eos_id` int32 `(1,)`.
  They return `ids` int32 `(1, max_length + 1)` (EOS, then 0, after the
  output), `length` int32 `(1,)` (tokens before EOS) and `score` float32
  `(1,)` (sum of log-probabilities for greedy, length-normalized for beam).
- `translate_greedy_batch` and `translate_beam_batch`, only when exported
  with a `batch_size` (and the app tokenizer): the searches on `source_ids`
  int32 `(batch_size, time)` (rows right-padded with 0; a row that is only
  EOS is an empty source) with `max_length` int32 `(batch_size,)` and
  `eos_id` int32 `(1,)`; the same outputs with `batch_size` rows. The same
  computation as `translate_greedy` / `translate_beam`, a batch at a time:
  on a CPU with several cores, one interpreter per core each running such
  batches translates far more sentences per second than sentence-by-sentence
  calls.

The computation is the package's own: `nlp_lstm.decoding.translate.
translate_ids` on the model, with the encoder's layers passed as fused
`UNIDIRECTIONAL_SEQUENCE_LSTM` ops (`FusedEncoderLayers`, through
`Translator.encode(encoder_fn=)`; peephole LSTMs get their peepholes written
into those ops after conversion, GRU layers run as Keras' loop, a builtin
`WHILE`); nothing else differs. The decoder's cells
run one step at a time inside the search's `tf.while_loop` (their cell state
is carried from step to step, which the fused op cannot return); the search
already allocates its buffers once at the maximum length, as TFLite needs.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from nlp_lstm.config import DecodingConfig
from nlp_lstm.decoding.translate import translate_ids
from nlp_lstm.export.tflite.encoder import FusedEncoderLayers
from nlp_lstm.export.tflite.fused_lstm import frozen_weights, weight_values


class TranslatorTFLite(tf.Module):
    """The exported computation of a `Translator`: its own `translate_ids`,
    the encoder's layers run by fused ops.

    Args:
        model: a trained `Translator` (any encoder cell).
        beam_size: int. Beam of `translate_beam`.
        length_penalty: float. GNMT length penalty alpha of the beam search.
        max_length_ratio, max_length_offset: default output length limit.
        max_source_tokens: int. Longer sources are cut (in-graph tokenizer).
        sentencepiece_model: bytes or None. With bytes, the signatures take
            text and tokenize it in the file (TFText custom op).
        batch_size: int or None. Also export `translate_greedy_batch` and
            `translate_beam_batch` at this fixed batch (ids in: not with
            `sentencepiece_model`).
    """

    def __init__(
        self,
        model,
        beam_size: int = 5,
        length_penalty: float = 0.6,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
        max_source_tokens: int = DecodingConfig.max_source_tokens,
        sentencepiece_model: bytes | None = None,
        batch_size: int | None = None,
    ):
        super().__init__(name="translator_tflite")
        if beam_size < 2:
            raise ValueError(f"beam_size must be at least 2, got {beam_size}")
        if batch_size is not None and (
            not isinstance(batch_size, int) or batch_size < 2
        ):
            raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}")
        if batch_size is not None and sentencepiece_model is not None:
            raise ValueError(
                "batch_size takes source ids: export with the app tokenizer"
            )
        self.model = model
        self.weights = weight_values(model)
        self.encoder_layers = FusedEncoderLayers(model.encoder)
        self.encoder_fn = functools.partial(
            model.encoder, layer_fn=self.encoder_layers
        )
        self.batch_size = batch_size
        # The fused ops' shapes are fixed: the batch signature has its own.
        self.batch_encoder_fn = (
            functools.partial(
                model.encoder,
                layer_fn=FusedEncoderLayers(model.encoder, batch=batch_size),
            )
            if batch_size
            else None
        )
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.max_source_tokens = max_source_tokens
        self.tokenizer = None
        if sentencepiece_model is not None:
            import tensorflow_text as tf_text

            self.tokenizer = tf_text.FastSentencepieceTokenizer(sentencepiece_model)

    def search(self, source_ids, max_length, eos_id, beam: bool, encoder_fn=None):
        """`nlp_lstm.decoding.translate.translate_ids` on the model, its
        encoder's layers run by fused ops (`encoder_fn`, default the batch-1
        ones)."""
        result = translate_ids(
            self.model,
            source_ids,
            beam_size=self.beam_size if beam else 1,
            length_penalty=self.length_penalty,
            max_length_ratio=self.max_length_ratio,
            max_length_offset=self.max_length_offset,
            max_lengths=max_length,
            eos_id=eos_id[0],
            encoder_fn=encoder_fn or self.encoder_fn,
            shrink=False,  # TFLite loops keep fixed shapes
            source_multiple=1,
            # FULLY_CONNECTED takes a kernel as it is (no transposes around).
            transposed_kernels=False,
        )
        return {
            "ids": result["ids"],
            "length": result["lengths"],
            "score": result["scores"],
        }

    def tokenize(self, source):
        """Text `(1,)` -> ids `(1, time)` cut to `max_source_tokens`, then EOS."""
        ids = self.tokenizer.tokenize(source).flat_values[: self.max_source_tokens]
        ids = tf.concat([tf.cast(ids, tf.int32), [self.model.eos_id]], axis=0)
        return ids[None]

    @property
    def fuses_lstms(self) -> bool:
        """Whether the file must have fused LSTM ops (an LSTM encoder)."""
        return bool(self.encoder_layers.layers)

    @property
    def peepholes(self) -> list:
        """What `peepholes.add_peepholes` writes into the converted file
        (one entry a layer: it finds the layer's op in every signature)."""
        return self.encoder_layers.peepholes

    def functions(self) -> list:
        """The concrete functions to convert, one per signature."""
        if self.tokenizer is None:
            source_spec = tf.TensorSpec([1, None], tf.int32, name="source_ids")
            prepare = tf.identity
        else:
            source_spec = tf.TensorSpec([1], tf.string, name="source")
            prepare = self.tokenize
        functions = []
        for name, beam in (("translate_greedy", False), ("translate_beam", True)):

            def translate(source, max_length, eos_id, beam=beam):
                with frozen_weights(self.weights):
                    return self.search(prepare(source), max_length, eos_id, beam)

            translate.__name__ = name
            function = tf.function(translate, autograph=False)
            functions.append(
                function.get_concrete_function(
                    source_spec,
                    tf.TensorSpec([1], tf.int32, name="max_length"),
                    tf.TensorSpec([1], tf.int32, name="eos_id"),
                )
            )
        if self.batch_size:
            for name, beam in (
                ("translate_greedy_batch", False),
                ("translate_beam_batch", True),
            ):

                def batched(source_ids, max_length, eos_id, beam=beam):
                    with frozen_weights(self.weights):
                        return self.search(
                            source_ids, max_length, eos_id, beam, self.batch_encoder_fn
                        )

                batched.__name__ = name
                function = tf.function(batched, autograph=False)
                functions.append(
                    function.get_concrete_function(
                        tf.TensorSpec(
                            [self.batch_size, None], tf.int32, name="source_ids"
                        ),
                        tf.TensorSpec([self.batch_size], tf.int32, name="max_length"),
                        tf.TensorSpec([1], tf.int32, name="eos_id"),
                    )
                )
        return functions
