"""Training FLOPs of the translator and the tagger, counted from their shapes.

A matmul of `(m, k) x (k, n)` is `2 * m * k * n` FLOPs (one multiply and one
add per multiply-add). The forward pass counts every matmul (and the char
CNN's convolution); embedding lookups, elementwise ops, softmaxes and the
CRF's forward algorithm (additions and log-sum-exps, no matmul) count zero.
The backward pass is twice the forward (gradients with respect to the inputs
and to the weights), so a training step is three forwards.

The sizes are read from the built model's layers (their constructor
arguments), the batch sizes from the padded shapes of the actual batch
tensors, so a bucket of 64 sentences padded to 24 source tokens counts 24
source steps for every sentence, as the kernels do; the translator's output
projection counts the target positions the loss projects (the real ones,
when the caller gives their number).
"""

from __future__ import annotations

TRAINING_MULTIPLIER = 3  # forward + backward (twice the forward)

# Gate blocks of each cell's kernels (the peepholes are elementwise: zero).
GATES = {"lstm": 4, "peephole_lstm": 4, "gru": 3}


def rnn_flops(batch: int, steps: int, input_dim: int, units: int, cell: str) -> int:
    """Forward FLOPs of one RNN direction over `steps`: the gate matmuls
    `[x; h] W`, `2 * batch * steps * (input_dim + units) * gates * units`."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
    return 2 * batch * steps * (input_dim + units) * GATES[cell] * units


def encoder_flops(encoder, batch: int, steps: int, input_dim: int) -> int:
    """Forward FLOPs of a `StackedBidirectionalEncoder`: every layer and both
    directions; layers after the first read `2 * units` features."""
    total = 0
    for index in range(encoder.num_layers):
        layer_input = input_dim if index == 0 else 2 * encoder.units
        total += 2 * rnn_flops(batch, steps, layer_input, encoder.units, encoder.cell)
    return total


def attention_flops(kind: str, batch: int, source_steps: int, target_steps: int,
                    memory_dim: int, units: int) -> dict:
    """Forward FLOPs of the attention over a whole target sequence.

    Luong general: keys `memory W` once (`2*B*S*mem*units`); per target step
    the scores `q . k` (`2*B*S*units`) and the context `weights . memory`
    (`2*B*S*mem`). Luong dot: no keys, scores over the memory itself.
    Bahdanau: keys once, per step the query projection (`2*B*units*units`), the
    scores `v . tanh(...)` (`2*B*S*units`) and the context.
    """
    b, s, t = batch, source_steps, target_steps
    context = 2 * b * s * memory_dim * t
    if kind == "luong_dot":
        return {"keys": 0, "scores": 2 * b * s * memory_dim * t, "context": context}
    keys = 2 * b * s * memory_dim * units
    if kind == "luong_general":
        return {"keys": keys, "scores": 2 * b * s * units * t, "context": context}
    if kind == "bahdanau":
        scores = (2 * b * units * units + 2 * b * s * units) * t
        return {"keys": keys, "scores": scores, "context": context}
    raise ValueError(f"unknown attention kind {kind!r}")


def translator_forward_flops(model, source_shape, target_shape,
                             target_tokens: int | None = None) -> dict:
    """Forward FLOPs of a `Translator` on one padded batch, by part.

    Args:
        model: a built `Translator`.
        source_shape: `(batch, source_time)` of the source ids.
        target_shape: `(batch, target_time)` of the decoder inputs.
        target_tokens: int. The target positions projected onto the
            vocabulary: the training loss projects the real ones only
            (`losses.translator_loss`); None: every padded position.

    Returns:
        dict of FLOPs: `encoder`, `bridge`, `decoder_rnn`, `attention_keys`,
        `attention_scores`, `attention_context`, `attention_projection`,
        `output_projection`, and `total`.
    """
    batch, source_steps = (int(d) for d in source_shape)
    target_batch, target_steps = (int(d) for d in target_shape)
    if target_batch != batch:
        raise ValueError(
            f"source and target batch sizes differ: {batch} and {target_batch}"
        )
    embedding_dim = int(model.source_embedding.output_dim)
    encoder, bridge, decoder = model.encoder, model.bridge, model.decoder
    memory_dim = 2 * encoder.units
    units = decoder.units
    parts = {"encoder": encoder_flops(encoder, batch, source_steps, embedding_dim)}

    bridge_flops = 0
    if bridge.kind == "dense":
        states = bridge.num_layers * (1 if bridge.cell == "gru" else 2)
        bridge_flops = states * 2 * batch * memory_dim * bridge.units
    parts["bridge"] = bridge_flops

    decoder_rnn = 0
    feature_dim = embedding_dim + (units if decoder.input_feeding else 0)
    for _ in range(decoder.num_layers):
        decoder_rnn += rnn_flops(batch, target_steps, feature_dim, units, decoder.cell)
        feature_dim = units
    parts["decoder_rnn"] = decoder_rnn

    attention = attention_flops(
        decoder.attention, batch, source_steps, target_steps, memory_dim, units
    )
    parts["attention_keys"] = attention["keys"]
    parts["attention_scores"] = attention["scores"]
    parts["attention_context"] = attention["context"]
    parts["attention_projection"] = (
        2 * batch * target_steps * (memory_dim + units) * units
    )

    projection = model.output_projection
    vocab_size = int(projection.vocab_size)
    positions = batch * target_steps if target_tokens is None else int(target_tokens)
    if projection.tied:
        target_embedding = model.target_embedding or model.source_embedding
        width = int(target_embedding.output_dim)
        output = 2 * positions * width * vocab_size
        if width != units:
            output += 2 * positions * units * width  # the pre-projection
    else:
        output = 2 * positions * units * vocab_size
    parts["output_projection"] = output
    parts["total"] = sum(parts.values())
    return parts


def translator_training_flops(model, source_shape, target_shape,
                              target_tokens: int | None = None) -> int:
    """FLOPs of one training step (forward + backward) of a `Translator`."""
    forward = translator_forward_flops(model, source_shape, target_shape, target_tokens)
    return TRAINING_MULTIPLIER * forward["total"]


def tagger_forward_flops(model, word_shape, max_word_chars: int | None = None) -> dict:
    """Forward FLOPs of a `Tagger` on one padded batch, by part.

    Args:
        model: a built `Tagger`.
        word_shape: `(batch, time)` of the word ids.
        max_word_chars: int. Characters per word in `char_ids` (its last
            dimension); needed with a char encoder.

    Returns:
        dict of FLOPs: `char_encoder`, `encoder`, `projection` and `total`.
    """
    batch, steps = (int(d) for d in word_shape)
    embedder = model.embedder
    words = batch * steps
    char_flops = 0
    if embedder.char_encoder != "none":
        if not max_word_chars:
            raise ValueError(
                "max_word_chars is needed with a char encoder, got "
                f"{max_word_chars!r}"
            )
        chars = int(max_word_chars)
        if embedder.char_encoder == "cnn":
            # Conv1D, "same" padding: every character position, full kernel.
            char_flops = (
                2 * words * chars * embedder.char_kernel_size * embedder.char_dim
                * embedder.char_units
            )
        else:
            char_flops = 2 * rnn_flops(
                words, chars, embedder.char_dim, embedder.char_units, "lstm"
            )
    encoder = model.encoder
    parts = {
        "char_encoder": char_flops,
        "encoder": encoder_flops(encoder, batch, steps, int(embedder.output_dim)),
        "projection": 2 * words * encoder.output_dim * model.num_tags,
    }
    parts["total"] = sum(parts.values())
    return parts


def tagger_training_flops(model, word_shape, max_word_chars: int | None = None) -> int:
    """FLOPs of one training step (forward + backward) of a `Tagger`."""
    forward = tagger_forward_flops(model, word_shape, max_word_chars)
    return TRAINING_MULTIPLIER * forward["total"]


def matmul_chain_flops(size: int, chain: int) -> int:
    """FLOPs of `chain` square matmuls of side `size`."""
    return chain * 2 * size**3
