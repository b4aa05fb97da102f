"""The tagging pipeline: corpus -> vocabularies -> train -> evaluate -> export."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.data.batching import bucket_boundaries
from nlp_lstm.data.conll import load_tagging_corpus
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.export.tagger import TaggerServing, export_tagger
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.text import tags as tag_schemes
from nlp_lstm.text.words import (
    PAD,
    CharVocabulary,
    TokenFeaturizer,
    WordVocabulary,
    load_pretrained_vectors,
)
from nlp_lstm.training.optimizers import build_optimizer
from nlp_lstm.training.trainer import set_seed, train
from nlp_lstm.utils.files import atomic_write_json

EVAL_BATCH_SIZE = 128
BUCKET_WIDTH = 4


def model_scheme(config: config_lib.TaggingConfig) -> str:
    """The scheme the model predicts in: `none` for POS, else `model.scheme`."""
    return config.model.scheme if config.is_entity_task else "none"


def convert_split(dataset, source: str, target: str) -> list[list[str]]:
    if source == target:
        return [list(tags) for tags in dataset["tags"]]
    return [tag_schemes.convert(tags, source, target) for tags in dataset["tags"]]


def pad_rows(rows, length: int, value, dtype) -> np.ndarray:
    """Rows cut to `length` and padded with `value`, `(len(rows), length)`."""
    array = np.full((len(rows), length), value, dtype=dtype)
    for index, row in enumerate(rows):
        row = list(row)[:length]
        array[index, : len(row)] = row
    return array


def training_dataset(tokens, tag_ids, max_length: int, batch_size: int,
                     shuffle_buffer: int, seed: int) -> tf.data.Dataset:
    """Endless shuffled batches `(tokens, tag_ids)` of sentences of similar
    lengths (buckets `BUCKET_WIDTH` tokens wide), padded with "" and 0 to the
    longest sentence of the batch; sentences are cut to `max_length` tokens.

    Strings go in and are featurized in the training step (not in `tf.data`),
    so that the iterator holds no lookup table and can be checkpointed.
    """
    lengths = np.array([min(len(row), max_length) for row in tokens], np.int32)
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            pad_rows(tokens, max_length, PAD, object),
            pad_rows(tag_ids, max_length, 0, np.int32),
            lengths,
        )
    )
    dataset = dataset.shuffle(min(shuffle_buffer, len(lengths)), seed=seed)
    # Batches of sentences of similar lengths: batching in corpus order padded
    # about 70% of the tokens of UD English-EWT batches.
    boundaries = bucket_boundaries(max_length, BUCKET_WIDTH)
    dataset = dataset.repeat().bucket_by_sequence_length(
        element_length_func=lambda tokens, tags, length: length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )

    def trim(batch_tokens, batch_tags, batch_lengths):
        longest = tf.reduce_max(batch_lengths)
        return batch_tokens[:, :longest], batch_tags[:, :longest]

    return dataset.map(trim).prefetch(2)


def evaluation_batches(tokens, tag_ids, batch_size: int = EVAL_BATCH_SIZE):
    """Batches sorted by length: a list of `(indices, tokens, tag_ids)`."""
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        longest = max(1, max(len(tokens[i]) for i in indices))
        batch_tokens = pad_rows([tokens[i] for i in indices], longest, PAD, object)
        batch_tags = pad_rows([tag_ids[i] for i in indices], longest, 0, np.int32)
        batches.append((indices, tf.constant(batch_tokens), tf.constant(batch_tags)))
    return batches


class TaggerEvaluator:
    """Loss and tags of a fixed set of sentences, for validation and test.

    Args:
        model: the `Tagger`.
        featurizer: its `TokenFeaturizer`.
        tokens: list of token lists.
        gold: list of tag lists (strings, in the model's scheme).
        tag_vocabulary: `TagVocabulary`.
    """

    def __init__(self, model, featurizer, tokens, gold, tag_vocabulary):
        self.tag_vocabulary = tag_vocabulary
        self.tokens = tokens
        self.gold = gold
        tag_ids = [tag_vocabulary.encode(tags) for tags in gold]
        self.batches = evaluation_batches(tokens, tag_ids)
        signature = [
            tf.TensorSpec([None, None], tf.string),
            tf.TensorSpec([None, None], tf.int32),
        ]

        @tf.function(input_signature=signature)
        def step(batch_tokens, batch_tags):
            features = featurizer(batch_tokens)
            loss, count = model.tag_loss(features, batch_tags)
            return loss * count, count, model.decode(features)

        self.step = step

    def __call__(self) -> tuple[float, list[list[str]]]:
        """Returns `(mean loss per token, predicted tags)`."""
        total_loss = total_tokens = 0.0
        predicted = [None] * len(self.tokens)
        for indices, batch_tokens, batch_tags in self.batches:
            loss, count, ids = self.step(batch_tokens, batch_tags)
            total_loss += float(loss)
            total_tokens += float(count)
            ids = ids.numpy()
            for row, index in enumerate(indices):
                length = len(self.tokens[index])
                predicted[index] = self.tag_vocabulary.decode(ids[row, :length])
        return total_loss / max(total_tokens, 1.0), predicted


def resolved_training(config: config_lib.TaggingConfig):
    """The `TrainingConfig` given to the trainer, with `auto` resolved."""
    metric = config.training.early_stopping_metric
    if metric == "auto":
        metric = "val_f1" if config.is_entity_task else "val_accuracy"
    return dataclasses.replace(config.training, early_stopping_metric=metric)


@dataclasses.dataclass
class TrainedTagger:
    """What `train_tagger` gives the evaluation and export steps."""

    model: object
    featurizer: TokenFeaturizer
    tag_vocabulary: tag_schemes.TagVocabulary
    scheme: str
    tokens: dict
    gold: dict
    result: object
    data_report: dict
    pretrained_found: int | None


@dataclasses.dataclass
class TaggingData:
    """A tagging corpus as the model sees it: tokens and gold tags (in the
    model's scheme) per split, and the vocabularies built from `train`."""

    tokens: dict
    gold: dict
    scheme: str
    tag_vocabulary: tag_schemes.TagVocabulary
    featurizer: TokenFeaturizer
    data_report: dict


def tagging_data(config: config_lib.TaggingConfig) -> TaggingData:
    """Reads the corpus of `config.data` and builds the tag, word and char
    vocabularies (deterministic: the same config gives the same ids)."""
    corpus, data_report = load_tagging_corpus(config.data)
    scheme = model_scheme(config)
    tokens = {split: [list(t) for t in corpus[split]["tokens"]] for split in corpus}
    gold = {
        split: convert_split(corpus[split], config.data.scheme, scheme)
        for split in corpus
    }
    embedder = config.model.embedder
    words = WordVocabulary.build(
        tokens["train"],
        min_frequency=embedder.min_frequency,
        max_words=embedder.max_words,
        lowercase=embedder.lowercase,
        normalize_digits=embedder.normalize_digits,
    )
    chars = CharVocabulary.build(
        tokens["train"],
        min_frequency=embedder.min_char_frequency,
        max_word_chars=embedder.max_word_chars,
    )
    return TaggingData(
        tokens,
        gold,
        scheme,
        tag_schemes.TagVocabulary.build(gold["train"], scheme),
        TokenFeaturizer(words, chars),
        data_report,
    )


def train_tagger(config: config_lib.TaggingConfig, verbose: int = 1) -> TrainedTagger:
    """Reads the corpus, builds the vocabularies and the model, and trains it
    (resuming from `run_dir`'s checkpoints)."""
    config_lib.check_memory(config)
    set_seed(config.training.seed)
    os.makedirs(config.run_dir, exist_ok=True)
    data = tagging_data(config)
    tokens, gold, scheme = data.tokens, data.gold, data.scheme
    tag_vocabulary, featurizer = data.tag_vocabulary, data.featurizer
    words, chars = featurizer.words, featurizer.chars
    embedder_config = config.model.embedder
    model = build_tagger(config.model, tag_vocabulary, words.size, chars.size)
    pretrained_found = None
    if embedder_config.pretrained:
        matrix, pretrained_found = load_pretrained_vectors(
            embedder_config.pretrained, words, embedder_config.word_dim,
            seed=config.training.seed,
        )
        model.embedder.word_embedding.embeddings.assign(matrix)

    train_ids = [tag_vocabulary.encode(tags) for tags in gold["train"]]
    dataset = training_dataset(
        tokens["train"], train_ids, config.data.max_length, config.data.batch_size,
        config.data.shuffle_buffer, config.training.seed,
    )
    validation = TaggerEvaluator(
        model, featurizer, tokens["dev"], gold["dev"], tag_vocabulary
    )

    def evaluate_fn(model):
        loss, predicted = validation()
        scores = tagging_scores(gold["dev"], predicted, scheme)
        metrics = {"val_loss": loss, "val_accuracy": scores["accuracy"]}
        if config.is_entity_task:
            metrics["val_f1"] = scores["f1"]
        return metrics

    def loss_fn(model, batch, training):
        batch_tokens, batch_tags = batch
        return model.tag_loss(featurizer(batch_tokens), batch_tags, training=training)

    result = train(
        model,
        build_optimizer(config.training),
        loss_fn,
        dataset,
        evaluate_fn,
        resolved_training(config),
        config.run_dir,
        verbose=verbose,
    )
    return TrainedTagger(
        model, featurizer, tag_vocabulary, scheme, tokens, gold, result,
        data.data_report, pretrained_found,
    )


def serving_module(trained: TrainedTagger, config: config_lib.TaggingConfig):
    """The `TaggerServing` module of a trained tagger (what gets exported)."""
    return TaggerServing(
        trained.model, trained.featurizer, trained.tag_vocabulary.tags,
        tokenizer=config.data.tokenizer, max_tokens=config.export.max_tokens,
    )


def evaluate_and_export(trained: TrainedTagger,
                        config: config_lib.TaggingConfig) -> dict:
    """Scores the test set, exports the SavedModel and writes `report.json`."""
    test_loss, predicted = TaggerEvaluator(
        trained.model, trained.featurizer, trained.tokens["test"],
        trained.gold["test"], trained.tag_vocabulary,
    )()
    scores = tagging_scores(trained.gold["test"], predicted, trained.scheme)

    export_path = None
    if config.export.enabled:
        export_path = export_tagger(
            serving_module(trained, config), config.export.directory, config.name,
            {"name": config.name, "scheme": trained.scheme,
             "entity_task": config.is_entity_task},
            warmup_sentences=[" ".join(row) for row in trained.tokens["test"][:8]],
        )

    result, tokens, featurizer = trained.result, trained.tokens, trained.featurizer
    report = {
        "name": config.name,
        "task": "entity" if config.is_entity_task else "pos",
        "scheme": trained.scheme,
        **{key: scores[key] for key in ("f1", "precision", "recall") if key in scores},
        "accuracy": scores["accuracy"],
        "per_type": scores["per_type"],
        "test_loss": test_loss,
        "test_sentences": len(tokens["test"]),
        "export_path": export_path,
        "train_seconds": result.train_seconds,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "tokens_per_second": result.tokens_per_second,
        "best_validation": result.best_metric,
        "validation_history": result.history,
        "data": {
            **trained.data_report,
            "sentences": {split: len(tokens[split]) for split in tokens},
            "train_sentences_cut": sum(
                len(row) > config.data.max_length for row in tokens["train"]
            ),
        },
        "vocabulary": {
            "words": featurizer.words.size,
            "chars": featurizer.chars.size,
            "tags": len(trained.tag_vocabulary),
            "pretrained_found": trained.pretrained_found,
        },
        "config": config_lib.to_dict(config),
    }
    atomic_write_json(os.path.join(config.run_dir, "report.json"), report)
    return report


def run(config: config_lib.TaggingConfig, verbose: int = 1) -> dict:
    """Trains, evaluates and exports a tagger; writes `report.json`.

    Returns:
        The report: `f1` (entity tasks) or `accuracy` (POS) on the test set,
        `per_type`, `export_path` (None when export is disabled),
        `train_seconds`, and the data, vocabulary and validation details.
    """
    return evaluate_and_export(train_tagger(config, verbose), config)
