"""Training throughput of the translator and the tagger at the benchmark size.

Both use the pipelines' own pieces: the config files (with the size set by the
suite), the corpus readers, the `tf.data` batching with length buckets, the
loss functions, `build_optimizer` and a training step equal to the trainer's.
A fixed list of batches is drawn from the real dataset and replayed: warm-up
steps first (one per distinct batch shape, so every shape that is timed has
been traced), then the timed steps, each ended by reading the loss (as the
trainer does every step).
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking import flops as flops_lib
from nlp_lstm.benchmarking.measure import peak_rss_mb, summarize
from nlp_lstm.bundle import TaggerBundle, TranslatorBundle
from nlp_lstm.data.batching import (
    encode_split,
    tagging_training_dataset,
    translation_dataset,
    translation_examples,
    translation_training_dataset,
)
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.words import PAD
from nlp_lstm.training import trainer as trainer_lib
from nlp_lstm.training.inputs import tagging_data
from nlp_lstm.training.losses import tagger_loss, translator_training_loss
from nlp_lstm.training.optimizers import build_optimizer

# ---------------------------------------------------------------------------
# Data and models.


@dataclasses.dataclass
class TranslationSetup:
    """The translation config, corpus and tokenizer of the benchmark."""

    config: config_lib.TranslationConfig
    corpus: object
    tokenizer: bytes
    tokenizer_source: str

    @property
    def processor(self):
        return sp.processor(self.tokenizer)

    def bundle(self, model) -> TranslatorBundle:
        """`model` (built from this setup) as an in-memory bundle, the form
        the inference rows and the exports take."""
        return TranslatorBundle(
            self.config, model, {"source": self.tokenizer, "target": self.tokenizer}
        )


def translator_step_loss(training_config):
    """The translator loss a run's first steps train with: with a sampled
    softmax that stops early (`training.sampled_softmax_until`), the sampled
    one (a variant with `training.sampled_softmax=0` times the whole
    vocabulary's). What the benchmarks time a step of."""
    return trainer_lib.loss_phases(translator_training_loss(training_config))[0][1]


def translation_config(suite, path: str | None = None) -> config_lib.TranslationConfig:
    """The translation config of `suite` (its config file, resized)."""
    overrides = [
        f"model.embedding_dim={suite.embedding_dim}",
        f"model.encoder.num_layers={suite.encoder_layers}",
        f"model.encoder.units={suite.encoder_units}",
        f"model.decoder.num_layers={suite.decoder_layers}",
        f"model.decoder.units={suite.decoder_units}",
        f"data.batch_size={suite.batch_size}",
        f"tokenizer.vocab_size={suite.vocab_size}",
        f"data.max_examples={suite.max_examples}",
        # One joint model for both sides (`benchmark_tokenizer`), as its
        # in-memory bundle says: the demo config's case-folding source off.
        "tokenizer.case_fold_source=false",
    ]
    return config_lib.load(
        config_lib.TranslationConfig, path or suite.translation_config, overrides
    )


def benchmark_tokenizer(config, corpus, cache_dir: str) -> tuple[bytes, str]:
    """The joint SentencePiece model: `tokenizers/<name>.model` when it exists
    with the wanted vocabulary size, else one trained on the training text
    (deterministic seed) and cached in `cache_dir`.

    Returns:
        `(model bytes, where it came from)`.
    """
    vocab_size = config.tokenizer.vocab_size
    published = os.path.join(config.tokenizer.directory, f"{config.name}.model")
    cached = os.path.join(cache_dir, f"{config.name}.{vocab_size}.model")
    for path in (published, cached):
        if os.path.isfile(path):
            model = sp.load_model(path)
            if sp.processor(model).vocab_size() == vocab_size:
                return model, path
    train = corpus["train"]
    model = sp.train_sentencepiece(
        list(train["source"]) + list(train["target"]),
        vocab_size=vocab_size,
        model_type=config.tokenizer.model_type,
        character_coverage=config.tokenizer.character_coverage,
        max_sentences=config.tokenizer.max_sentences,
        seed=config.training.seed,
    )
    sp.save_model(model, cached)
    return model, f"trained, cached at {cached}"


def translation_setup(suite, cache_dir: str) -> TranslationSetup:
    config = translation_config(suite)
    corpus, _ = load_parallel_corpus(config.data)
    tokenizer, source = benchmark_tokenizer(config, corpus, cache_dir)
    return TranslationSetup(config, corpus, tokenizer, source)


def translation_batches(setup: TranslationSetup, count: int) -> list:
    """`count` batches `((source, target_in), target_out)` (NumPy) drawn from
    the pipeline's shuffled, bucketed training dataset."""
    config = setup.config
    processor = setup.processor
    sources, targets, _ = encode_split(
        config, processor, processor, setup.corpus["train"]
    )
    dataset = translation_training_dataset(config, sources, targets)
    return [
        tf.nest.map_structure(lambda t: t.numpy(), batch)
        for batch in dataset.take(count)
    ]


# The pairs that `fixed_batches` batches: the first this many training pairs.
FIXED_PAIRS = 64 * 40
# Batches `fixed_batches` skips: the training stream's first batches are of
# the commonest, shorter pairs, whose buckets fill first (12% fewer tokens a
# pair in its first 30 batches, Multi30k, pair buckets 2 wide; 5% with the
# longer side's, 4 wide).
FIXED_BURN_IN = 120


def fixed_pairs(config, corpus, processor) -> tuple[list, list]:
    """`(sources, targets)`: the first `FIXED_PAIRS` training pairs, encoded
    and kept as the pipeline keeps them (`translation_examples`)."""
    train = corpus["train"].select(range(FIXED_PAIRS))
    sources, targets, _ = translation_examples(
        processor.encode(list(train["source"])),
        processor.encode(list(train["target"])),
        config.data.max_length,
    )
    return sources, targets


def fixed_batches(config, corpus, processor, count: int) -> list:
    """`count` batches of 64 pairs drawn (seed 1) from `fixed_pairs` as the
    training stream batches them (`config.data`'s buckets, after
    `FIXED_BURN_IN` batches): the same batches for every run of the
    profiling and distribution benchmarks (`benchmarks/profile_training.py`,
    `benchmarks/distribution.py`). Their pairs can still be a few percent
    shorter or longer than the corpus's: compare real tokens a second."""
    sources, targets = fixed_pairs(config, corpus, processor)
    dataset = translation_dataset(
        sources, targets, batch_size=64, bucket_width=config.data.bucket_width,
        max_length=config.data.max_length, shuffle_buffer=len(sources), seed=1,
        repeat=True, pair_buckets=config.data.pair_buckets,
    )
    return list(dataset.skip(FIXED_BURN_IN).take(count))


def build_benchmark_translator(setup: TranslationSetup):
    vocab_size = setup.processor.vocab_size()
    return build_translator(setup.config.model, vocab_size, vocab_size)


def training_step(model, config, loss_fn, precision: str = "float32"):
    """The trainer's step for `model` with the optimizer of `config.training`
    (built), its towers and matmuls in `precision`."""
    optimizer = build_optimizer(config.training)
    optimizer.build(model.trainable_variables)
    return trainer_lib.make_train_step(
        model, optimizer, loss_fn, config.training.towers, precision=precision
    )


# ---------------------------------------------------------------------------
# The timing loop.


def replay(train_step, batches: list, warmup_steps: int, shape_key) -> dict:
    """Warm-up (every distinct shape once, at least `warmup_steps` steps), then
    one timed step per batch. Returns the warm-up seconds and step seconds."""
    seen, warmup = set(), []
    for batch in batches:
        key = shape_key(batch)
        if key not in seen or len(warmup) < warmup_steps:
            seen.add(key)
            start = time.perf_counter()
            loss, _ = train_step(batch)
            float(loss)
            warmup.append(time.perf_counter() - start)
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        loss, _ = train_step(batch)
        loss = float(loss)
        seconds.append(time.perf_counter() - start)
        if not np.isfinite(loss):
            raise FloatingPointError(f"benchmark training loss became {loss}")
    return {"warmup_seconds": warmup, "seconds": seconds, "distinct_shapes": len(seen)}


def tracing_count(train_step):
    try:
        return int(train_step.experimental_get_tracing_count())
    except AttributeError:
        return None


def throughput_report(seconds, real, padded, flops, peak_gflops) -> dict:
    """Rates over the timed steps. `real` and `padded` map a name to a token
    count per step; `flops` is the FLOPs of each step."""
    total = float(sum(seconds))
    achieved = float(sum(flops)) / total / 1e9
    report = {
        "step_seconds": summarize(seconds),
        "timed_seconds": total,
        "tokens_per_second": {
            name: float(sum(counts)) / total for name, counts in real.items()
        },
        "padded_tokens_per_second": {
            name: float(sum(counts)) / total for name, counts in padded.items()
        },
        "padding_fraction": {
            name: 1.0 - float(sum(real[name])) / max(float(sum(padded[name])), 1.0)
            for name in real
            if name in padded
        },
        "flops_per_step_mean": float(np.mean(flops)),
        "achieved_gflops": achieved,
        "achieved_gflops_median_step": float(
            np.median(np.asarray(flops) / np.asarray(seconds)) / 1e9
        ),
    }
    if peak_gflops:
        report["percent_of_peak"] = 100.0 * achieved / peak_gflops
    return report


def translator_training(suite, setup: TranslationSetup, peak_gflops: float | None,
                        verbose: bool = True, precision: str = "float32"):
    """Training throughput of the translator with its matmuls in `precision`
    (`training.precision`); returns `(report, bundle)`, the
    trained-for-a-few-steps model in an in-memory `TranslatorBundle`."""
    config = setup.config
    trainer_lib.set_seed(config.training.seed)
    batches = translation_batches(setup, suite.timed_steps)
    model = build_benchmark_translator(setup)
    loss_fn = translator_step_loss(config.training)
    train_step = training_step(model, config, loss_fn, precision)
    if verbose:
        print(
            f"translator training ({precision}): {len(batches)} timed steps of "
            f"{config.data.batch_size} sentences",
            flush=True,
        )

    def shape_key(batch):
        (source, target_in), _ = batch
        return source.shape, target_in.shape

    timing = replay(train_step, batches, suite.warmup_steps, shape_key)
    real = {"source": [], "target": [], "source_target": []}
    padded = {"source": [], "target": [], "source_target": []}
    step_flops, forward_parts = [], {}
    for (source, target_in), target_out in batches:
        source_real = int(np.count_nonzero(source))
        target_real = int(np.count_nonzero(target_out))
        real["source"].append(source_real)
        real["target"].append(target_real)
        real["source_target"].append(source_real + target_real)
        padded["source"].append(source.size)
        padded["target"].append(target_out.size)
        padded["source_target"].append(source.size + target_out.size)
        parts = flops_lib.translator_forward_flops(
            model, source.shape, target_in.shape, target_tokens=target_real
        )
        step_flops.append(flops_lib.TRAINING_MULTIPLIER * parts["total"])
        for name, value in parts.items():
            forward_parts[name] = forward_parts.get(name, 0) + value
    report = throughput_report(timing["seconds"], real, padded, step_flops, peak_gflops)
    report["sentences_per_second"] = (
        sum(b[0][0].shape[0] for b in batches) / report["timed_seconds"]
    )
    model_config = config.model
    report.update(
        {
            "data": {
                "train_source": config.data.train_source or config.data.path,
                "train_sentences": len(setup.corpus["train"]),
                "tokenizer": setup.tokenizer_source,
                "vocab_size": setup.processor.vocab_size(),
                "batch_size": config.data.batch_size,
                "bucket_width": config.data.bucket_width,
                "max_length": config.data.max_length,
            },
            "model": {
                "embedding_dim": model_config.embedding_dim,
                "encoder": dataclasses.asdict(model_config.encoder),
                "decoder": dataclasses.asdict(model_config.decoder),
                "share_embeddings": model_config.share_embeddings,
                "tie_output": model_config.tie_output,
                "parameters": int(
                    sum(np.prod(v.shape) for v in model.trainable_variables)
                ),
            },
            "training": {
                "precision": precision,
                "optimizer": config.training.optimizer,
                "label_smoothing": config.training.label_smoothing,
                "clip_norm": config.training.clip_norm,
                "sampled_softmax": config.training.sampled_softmax,
                "sampled_softmax_until": config.training.sampled_softmax_until,
            },
            "warmup_steps": len(timing["warmup_seconds"]),
            "warmup_seconds": float(sum(timing["warmup_seconds"])),
            "timed_steps": len(timing["seconds"]),
            "distinct_shapes": timing["distinct_shapes"],
            "traces": tracing_count(train_step),
            "forward_flops_share": {
                name: value / forward_parts["total"]
                for name, value in forward_parts.items()
                if name != "total"
            },
            "peak_rss_mb": peak_rss_mb(),
        }
    )
    if verbose:
        print_rates("translator", report, "source_target")
    return report, setup.bundle(model)


def print_rates(name: str, report: dict, tokens: str) -> None:
    percent = report.get("percent_of_peak")
    print(
        f"  {name}: {report['tokens_per_second'][tokens]:,.0f} tokens/s, "
        f"{report['step_seconds']['median']:.3f} s/step (median), "
        f"{report['achieved_gflops']:.1f} GFLOP/s"
        + (f" = {percent:.1f}% of the matmul peak" if percent else ""),
        flush=True,
    )


# ---------------------------------------------------------------------------
# Tagger.


@dataclasses.dataclass
class TaggingSetup:
    """The tagging config, sentences, vocabularies and featurizer."""

    config: config_lib.TaggingConfig
    tokens: dict
    gold: dict
    tag_vocabulary: object
    featurizer: object

    def bundle(self, model) -> TaggerBundle:
        """`model` (built from this setup) as an in-memory bundle."""
        return TaggerBundle(self.config, model, self.featurizer, self.tag_vocabulary)


def tagging_config(suite, path: str | None = None, size: bool = True,
                   settings: tuple = ()):
    """The benchmark's tagger config (`size`: at the suite's size), with
    `settings` (`KEY=VALUE`, as `--set`) last."""
    overrides = [
        f"model.embedder.word_dim={suite.embedding_dim}",
        f"model.encoder.num_layers={suite.encoder_layers}",
        f"model.encoder.units={suite.encoder_units}",
        f"data.batch_size={suite.batch_size}",
        # The architecture of issue 14's baseline (12,407 tokens/s), which the
        # UD config has since left (char BiLSTM, word dropout 0.3).
        "model.embedder.char_encoder=cnn",
        "model.embedder.word_dropout=0.0",
    ] if size else []
    if suite.name == "smoke":
        overrides += [
            "data.max_examples=400",
            "model.embedder.char_dim=8",
            "model.embedder.char_units=8",
        ]
    overrides += list(settings)
    path = path or suite.tagging_config
    return config_lib.load(config_lib.TaggingConfig, path, overrides)


def tagging_setup(config) -> TaggingSetup:
    """The corpus and vocabularies of the benchmark's own (untrained) tagger,
    built as the tagging pipeline builds them; a trained tagger brings its
    own in its bundle."""
    data = tagging_data(config)
    return TaggingSetup(
        config, data.tokens, data.gold, data.tag_vocabulary, data.featurizer
    )


def build_benchmark_tagger(setup: TaggingSetup):
    featurizer = setup.featurizer
    return build_tagger(
        setup.config.model,
        setup.tag_vocabulary,
        featurizer.words.size,
        featurizer.chars.size,
    )


def tagger_batches(setup: TaggingSetup, count: int) -> list:
    """`count` batches `(tokens, tags)` drawn from the pipeline's shuffled,
    length-bucketed training dataset (seeded by the config)."""
    config = setup.config
    tag_ids = [setup.tag_vocabulary.encode(tags) for tags in setup.gold["train"]]
    dataset = tagging_training_dataset(
        setup.tokens["train"],
        tag_ids,
        config.data.max_length,
        config.data.batch_size,
        config.data.shuffle_buffer,
        config.training.seed,
        pad=PAD,
    )
    return [
        (tf.constant(tokens), tf.constant(tags))
        for tokens, tags in dataset.take(count)
    ]


def tagger_training(suite, setup: TaggingSetup, peak_gflops: float | None,
                    verbose: bool = True, precision: str = "float32"):
    """Training throughput of the tagger with its matmuls in `precision`;
    returns `(report, bundle)`, the model in an in-memory `TaggerBundle`."""
    config = setup.config
    trainer_lib.set_seed(config.training.seed)
    batches = tagger_batches(setup, suite.tagger_timed_steps)
    model = build_benchmark_tagger(setup)
    featurizer = setup.featurizer
    train_step = training_step(model, config, tagger_loss(featurizer), precision)
    if verbose:
        print(
            f"tagger training ({precision}): {len(batches)} timed steps of "
            f"{config.data.batch_size} sentences",
            flush=True,
        )
    timing = replay(
        train_step, batches, suite.warmup_steps, lambda b: tuple(b[0].shape)
    )
    real, padded, step_flops = {"tokens": []}, {"tokens": []}, []
    max_chars = featurizer.chars.max_word_chars
    for batch_tokens, _ in batches:
        real["tokens"].append(
            int(tf.reduce_sum(tf.cast(tf.not_equal(batch_tokens, PAD), tf.int32)))
        )
        padded["tokens"].append(int(np.prod(batch_tokens.shape)))
        step_flops.append(
            flops_lib.tagger_training_flops(model, batch_tokens.shape, max_chars)
        )
    report = throughput_report(timing["seconds"], real, padded, step_flops, peak_gflops)
    report["sentences_per_second"] = (
        sum(int(b[0].shape[0]) for b in batches) / report["timed_seconds"]
    )
    embedder = config.model.embedder
    report.update(
        {
            "data": {
                "train": config.data.train,
                "train_sentences": len(setup.tokens["train"]),
                "batch_size": config.data.batch_size,
                "words": featurizer.words.size,
                "chars": featurizer.chars.size,
                "tags": len(setup.tag_vocabulary),
            },
            "precision": precision,
            "model": {
                "word_dim": embedder.word_dim,
                "char_encoder": embedder.char_encoder,
                "char_units": embedder.char_units,
                "casing_dim": embedder.casing_dim,
                "encoder": dataclasses.asdict(config.model.encoder),
                "head": config.model.head,
                "parameters": int(
                    sum(np.prod(v.shape) for v in model.trainable_variables)
                ),
            },
            "warmup_steps": len(timing["warmup_seconds"]),
            "warmup_seconds": float(sum(timing["warmup_seconds"])),
            "timed_steps": len(timing["seconds"]),
            "distinct_shapes": timing["distinct_shapes"],
            "traces": tracing_count(train_step),
            "peak_rss_mb": peak_rss_mb(),
        }
    )
    if verbose:
        print_rates("tagger", report, "tokens")
    return report, setup.bundle(model)
