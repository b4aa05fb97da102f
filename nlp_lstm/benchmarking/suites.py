"""The benchmark suites: how many steps, sentences and repeats each one runs.

`quick` finishes in under 10 minutes on 2 quiet CPU cores; `full` is what the
README quotes; `smoke` is a tiny model on tiny data for the default test run
(it checks the plumbing and the results file, its figures mean nothing).
"""

from __future__ import annotations

import dataclasses

TRANSLATION_CONFIG = "pipelines/configs/translation_multi30k_en_de.yaml"
TAGGING_CONFIG = "pipelines/configs/tagging_ud_ewt_upos.yaml"
SMOKE_TRANSLATION_CONFIG = "pipelines/configs/translation_tatoeba_es_en.yaml"

TRANSLATOR_FORMATS = ("keras_eager", "keras_function", "saved_model")
TFLITE_VARIANTS = ("float32", "float16", "dynamic-int8")


@dataclasses.dataclass(frozen=True)
class Suite:
    """Settings of one benchmark run.

    Model size (the issue's fixed size): `embedding_dim`, encoder
    `encoder_layers` x `encoder_units` per direction, decoder
    `decoder_layers` x `decoder_units`, `batch_size` sentences, a joint
    SentencePiece vocabulary of `vocab_size`.
    """

    name: str
    translation_config: str = TRANSLATION_CONFIG
    tagging_config: str = TAGGING_CONFIG
    max_examples: int = 0  # 0: the whole training corpus
    embedding_dim: int = 256
    encoder_layers: int = 2
    encoder_units: int = 128
    decoder_layers: int = 2
    decoder_units: int = 256
    batch_size: int = 64
    vocab_size: int = 8000
    # Training throughput: warm-up steps (at least one per distinct batch
    # shape of the replayed batches), then `timed_steps` timed steps.
    warmup_steps: int = 3
    timed_steps: int = 30
    tagger_timed_steps: int = 30
    # Training is timed in each of these `training.precision`s (bfloat16: the
    # matmul peak is measured in bfloat16 too).
    training_precisions: tuple = ("float32", "bfloat16")
    # Matmul peak.
    matmul_size: int = 2048
    matmul_chain: int = 10
    matmul_repeats: int = 3
    # Inference: batch-1 latency over `latency_sentences` (after
    # `latency_warmup` calls), batch-32 throughput and quality over the first
    # `quality_sentences` test sentences (Keras eager: `eager_sentences`).
    inference_batch: int = 32
    latency_warmup: int = 2
    latency_sentences: int = 20
    eager_latency_sentences: int = 5
    quality_sentences: int = 128
    eager_quality_sentences: int = 128
    beam_size: int = 5
    tagger_latency_sentences: int = 50
    tagger_quality_sentences: int = 500
    tagger_eager_quality_sentences: int = 500
    translator_formats: tuple = TRANSLATOR_FORMATS
    tflite_variants: tuple = TFLITE_VARIANTS
    # Use the trained artifacts (runs/, saved_models/) when present.
    use_trained: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SUITES = {
    "smoke": Suite(
        name="smoke",
        translation_config=SMOKE_TRANSLATION_CONFIG,
        max_examples=1500,
        embedding_dim=32,
        encoder_layers=1,
        encoder_units=16,
        decoder_layers=1,
        decoder_units=32,
        batch_size=16,
        vocab_size=1000,
        warmup_steps=1,
        timed_steps=3,
        tagger_timed_steps=3,
        matmul_size=256,
        matmul_chain=10,
        matmul_repeats=2,
        inference_batch=4,
        latency_warmup=1,
        latency_sentences=2,
        eager_latency_sentences=1,
        quality_sentences=4,
        eager_quality_sentences=4,
        beam_size=2,
        tagger_latency_sentences=2,
        tagger_quality_sentences=8,
        tagger_eager_quality_sentences=4,
        translator_formats=("keras_eager", "keras_function"),
        tflite_variants=("float32",),
        use_trained=False,
    ),
    "quick": Suite(name="quick"),
    "full": Suite(
        name="full",
        warmup_steps=5,
        timed_steps=200,
        tagger_timed_steps=200,
        matmul_repeats=5,
        latency_warmup=5,
        latency_sentences=100,
        eager_latency_sentences=20,
        quality_sentences=1000,
        eager_quality_sentences=1000,
        tagger_latency_sentences=200,
        tagger_quality_sentences=100_000,  # the whole test set
        tagger_eager_quality_sentences=100_000,
    ),
}
