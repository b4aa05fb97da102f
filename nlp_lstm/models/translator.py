"""The translator: embeddings, a bidirectional encoder, a bridge and an
attentional decoder, composed from injected parts."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from nlp_lstm.layers import cells as cells_lib
from nlp_lstm.layers import linear
from nlp_lstm.layers.bridge import Bridge
from nlp_lstm.layers.decoder import AttentionDecoder
from nlp_lstm.layers.dropout import Dropout
from nlp_lstm.layers.encoder import build_encoder
from nlp_lstm.layers.output import OutputProjection
from nlp_lstm.text.sentencepiece import BOS_ID, EOS_ID, PAD_ID
from nlp_lstm.utils.serialization import deserialize_parts, serialize_parts


@keras.saving.register_keras_serializable(package="nlp_lstm")
class Translator(keras.Model):
    """Sequence-to-sequence model trained with teacher forcing.

    Sources are token ids ending with EOS and right-padded with `pad_id`;
    target inputs start with BOS. `call((source, target_in))` returns logits
    `(batch, target_time, vocab)`: `logits` of `attentional`. Decoding
    (greedy, beam) lives in `nlp_lstm.decoding` and uses `encode` and
    `decoding_step`.

    Args:
        source_embedding: `keras.layers.Embedding` for source ids.
        encoder: `StackedBidirectionalEncoder`.
        bridge: `Bridge` from encoder final states to decoder states.
        decoder: `AttentionDecoder`.
        output_projection: `OutputProjection` onto the target vocabulary.
        target_embedding: `keras.layers.Embedding` or None to share the source one.
        embedding_dropout: float. Dropout on both embeddings.
        pad_id, bos_id, eos_id: int. Special ids of the vocabularies.
    """

    def __init__(
        self,
        source_embedding,
        encoder,
        bridge,
        decoder,
        output_projection,
        target_embedding=None,
        embedding_dropout: float = 0.0,
        pad_id: int = PAD_ID,
        bos_id: int = BOS_ID,
        eos_id: int = EOS_ID,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_embedding = source_embedding
        self.target_embedding = target_embedding
        self.encoder = encoder
        self.bridge = bridge
        self.decoder = decoder
        self.output_projection = output_projection
        self.embedding_dropout = embedding_dropout
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.dropout_layer = Dropout(embedding_dropout)

    @property
    def shares_embeddings(self) -> bool:
        return self.target_embedding is None

    def _target_embedding(self):
        return (
            self.source_embedding if self.shares_embeddings else self.target_embedding
        )

    def encode(self, source_ids, training=False, encoder_fn=None, encoder_table=None):
        """Returns `(memory, mask, decoder_state)` for source ids `(batch, time)`.

        `encoder_fn` runs in place of `self.encoder`: `encoder_fn(embedded,
        mask=, training=) -> (outputs, states)` (an export passes the encoder
        with its fused layers, `functools.partial(encoder, layer_fn=...)`).
        `encoder_table`: `decoding_weights(input_tables=True)["encoder_table"]`
        (inference): the encoder's first layer looks up its input
        projections of the source ids (`StackedBidirectionalEncoder.call`'s
        `input_table`), and `encoder_fn` is called with the ids and
        `input_table=` in place of the embeddings.
        """
        encoder = self.encoder if encoder_fn is None else encoder_fn
        mask = ops.not_equal(source_ids, self.pad_id)
        if encoder_table is not None:
            memory, final_states = encoder(
                source_ids, mask=mask, training=training, input_table=encoder_table
            )
        else:
            embedded = self.dropout_layer(
                self.source_embedding(source_ids), training=training
            )
            memory, final_states = encoder(embedded, mask=mask, training=training)
        state = self.decoder.initial_state(self.bridge(final_states))
        return memory, mask, state

    def _output_embeddings(self):
        """The embeddings a tied output projection reuses, else None."""
        if self.output_projection.tied:
            return self._target_embedding().embeddings
        return None

    def logits(self, attentional):
        return self.output_projection(attentional, embeddings=self._output_embeddings())

    def output_columns(self, attentional, ids):
        """`OutputProjection.columns` of 2-D `attentional`: the logits of the
        target ids `ids` and the mean logit."""
        return self.output_projection.columns(
            attentional, ids, embeddings=self._output_embeddings()
        )

    def decoding_weights(
        self, transposed: bool = True, input_tables: bool = False
    ) -> dict:
        """What `decoding_step` reads every step, prepared once per search:
        the output projection's `(units, vocab)` kernel (the embeddings
        transposed, when tied) and the decoder cells' stacked kernels
        (`transposed`: see `AttentionDecoder.inference_weights`).

        With `input_tables`, for weights made once (an export's:
        `decoding.translate.decoding_variables`; each table is `vocab` rows
        of gates): products with every embedding that the search looks up by
        token id instead of computing, where the model can. An LSTM-family
        decoder's first cell gets its product with every target embedding
        (`AttentionDecoder.inference_weights`); an encoder that runs through
        its loops gets its first layer's input projections of every source
        embedding as `encoder_table` (for `encode`), else None."""
        output_kernel = self.output_projection.kernel_matrix(self._output_embeddings())
        decoder_table = input_tables and cells_lib.get(self.decoder.cell).merged
        weights = {
            # In the matmul precision (`linear.matmul_precision`), cast once.
            "output_kernel": linear.compute_copy(output_kernel),
            "cells": self.decoder.inference_weights(
                transposed,
                self._target_embedding().embeddings if decoder_table else None,
            ),
        }
        if input_tables:
            weights["encoder_table"] = (
                self.encoder.input_table(self.source_embedding.embeddings)
                if self.encoder.uses_loops
                else None
            )
        return weights

    def output_kernel_columns(self, ids, output_kernel):
        """Columns `ids` of the output kernel `output_kernel` (from
        `decoding_weights`), in the matmul precision: a search's shortlist.
        Tied, they are read as rows of the embeddings and transposed, which
        TensorFlow does 1.7-2.5x faster on CPU than a gather of columns (one
        core, 500-4,000 of 8,000 ids by 256)."""
        if self.output_projection.tied:
            rows = tf.gather(self._output_embeddings(), ids)
            return linear.compute_copy(tf.transpose(rows))
        return tf.gather(output_kernel, ids, axis=1)

    def attentional(self, inputs, training=False):
        """The decoder's attentional vectors `(batch, target_time, units)`
        under teacher forcing: what `call` projects onto the vocabulary (a
        loss may project only the positions it scores)."""
        source_ids, target_in = inputs
        memory, mask, state = self.encode(source_ids, training=training)
        embedded = self.dropout_layer(
            self._target_embedding()(target_in), training=training
        )
        outputs, _ = self.decoder(embedded, state, memory, mask=mask, training=training)
        return outputs

    def call(self, inputs, training=False):
        return self.logits(self.attentional(inputs, training=training))

    def decoding_constants(self, memory, mask):
        """Tensors that stay fixed during decoding: `(memory, keys, mask)`."""
        return memory, self.decoder.prepare(memory), mask

    def decoding_step(self, ids, state, constants, group=1, weights=None):
        """One step of inference: `(logits, new_state, attention_weights)`.

        `constants`: `decoding_constants(...)`, one row a sentence, for
        `group` consecutive rows of `ids` and `state` each (a beam's
        hypotheses; `nlp_lstm.decoding.search`).
        `weights`: `self.decoding_weights()`, computed once outside the
        decoding loop (`nlp_lstm.decoding.translate` does), else every step;
        with an `output_bias`, the logits cover the columns of the vocabulary
        that `output_kernel` and `output_bias` hold (a shortlist).
        """
        memory, keys, mask = constants
        if weights is None:
            weights = self.decoding_weights()
        if weights["cells"][0].get("input_table") is None:
            inputs = self._target_embedding()(ids)
        else:  # the decoder looks up its first cell's product with them
            inputs = ids
        attentional, state, attention = self.decoder.step(
            inputs, state, memory, keys, mask=mask, weights=weights["cells"],
            group=group,
        )
        logits = self.output_projection.project(
            attentional, weights["output_kernel"], weights.get("output_bias")
        )
        return logits, state, attention

    PARTS = (
        "source_embedding",
        "target_embedding",
        "encoder",
        "bridge",
        "decoder",
        "output_projection",
    )

    def get_config(self):
        config = super().get_config()
        config.update(serialize_parts(self, self.PARTS))
        config.update(
            {
                "embedding_dropout": self.embedding_dropout,
                "pad_id": self.pad_id,
                "bos_id": self.bos_id,
                "eos_id": self.eos_id,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_parts(config, cls.PARTS))


def build_translator(model_config, source_vocab_size: int, target_vocab_size: int):
    """Builds a `Translator` from a `TranslatorModelConfig` and vocabulary sizes."""
    encoder_config, decoder_config = model_config.encoder, model_config.decoder
    if model_config.share_embeddings and source_vocab_size != target_vocab_size:
        raise ValueError(
            "share_embeddings needs one vocabulary, got sizes "
            f"{source_vocab_size} and {target_vocab_size}"
        )
    def embedding(vocab_size, name):
        scale = model_config.embedding_init
        return keras.layers.Embedding(
            vocab_size, model_config.embedding_dim, name=name,
            embeddings_initializer=keras.initializers.RandomUniform(-scale, scale),
        )

    source_embedding = embedding(source_vocab_size, "source_embedding")
    target_embedding = None
    if not model_config.share_embeddings:
        target_embedding = embedding(target_vocab_size, "target_embedding")
    model = Translator(
        source_embedding=source_embedding,
        target_embedding=target_embedding,
        encoder=build_encoder(encoder_config),
        bridge=Bridge(
            kind=decoder_config.bridge,
            num_layers=decoder_config.num_layers,
            units=decoder_config.units,
            cell=decoder_config.cell,
            name="bridge",
        ),
        decoder=AttentionDecoder(
            num_layers=decoder_config.num_layers,
            units=decoder_config.units,
            cell=decoder_config.cell,
            dropout=decoder_config.dropout,
            attention=decoder_config.attention,
            input_feeding=decoder_config.input_feeding,
            name="decoder",
        ),
        output_projection=OutputProjection(
            target_vocab_size, tied=model_config.tie_output, name="output_projection"
        ),
        embedding_dropout=encoder_config.dropout,
        name="translator",
    )
    build(model)
    return model


def build(model: Translator) -> Translator:
    """Creates the variables by running the model once on a tiny batch."""
    source = ops.convert_to_tensor([[5, model.eos_id]], dtype="int32")
    target = ops.convert_to_tensor([[model.bos_id, 5]], dtype="int32")
    model((source, target))
    return model
