"""The translation pipeline: corpus -> SentencePiece -> train -> evaluate -> export."""

from __future__ import annotations

import dataclasses
import os
import time

import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.data.batching import translation_dataset, translation_examples
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.decoding.translate import TextTranslator
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.export.translator import TranslatorModule, export_translator
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training.losses import masked_cross_entropy
from nlp_lstm.training.optimizers import build_optimizer
from nlp_lstm.training.trainer import set_seed, train
from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json

VALIDATION_BLEU_SENTENCES = 500


def tokenizer_models(config: config_lib.TranslationConfig, corpus) -> dict:
    """Trains (or, when resuming, reloads) the SentencePiece model(s).

    The models are kept in the run folder (the copy a resumed run reuses) and
    published to `tokenizer.directory` as `<name>.model` (shared) or
    `<name>.source.model` and `<name>.target.model`.
    """
    tokenizer = config.tokenizer
    sides = ["shared"] if tokenizer.shared else ["source", "target"]
    models = {}
    for side in sides:
        suffix = ".model" if side == "shared" else f".{side}.model"
        run_copy = os.path.join(config.run_dir, f"tokenizer{suffix}")
        if os.path.isfile(run_copy):
            models[side] = sp.load_model(run_copy)
            continue
        train = corpus["train"]
        sentences = (
            list(train["source"]) + list(train["target"])
            if side == "shared"
            else list(train[side])
        )
        models[side] = sp.train_sentencepiece(
            sentences,
            vocab_size=tokenizer.vocab_size,
            model_type=tokenizer.model_type,
            character_coverage=tokenizer.character_coverage,
            max_sentences=tokenizer.max_sentences,
            seed=config.training.seed,
        )
        sp.save_model(models[side], run_copy)
        sp.save_model(
            models[side], os.path.join(tokenizer.directory, f"{config.name}{suffix}")
        )
    if tokenizer.shared:
        return {"source": models["shared"], "target": models["shared"]}
    return models


def encode_split(config: config_lib.TranslationConfig, source_processor,
                 target_processor, data) -> tuple[list, list, int]:
    """`(sources, targets, dropped)`: the id sequences of a corpus split's
    pairs (`data["source"]`, `data["target"]`) within `data.max_length`."""
    return translation_examples(
        source_processor.encode(list(data["source"])),
        target_processor.encode(list(data["target"])),
        config.data.max_length,
    )


def training_dataset(config: config_lib.TranslationConfig, sources, targets):
    """The endless, shuffled, length-bucketed batches the model trains on."""
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
    )


def translator_loss(label_smoothing: float):
    def loss_fn(model, batch, training):
        (source, target_in), target_out = batch
        logits = model((source, target_in), training=training)
        return masked_cross_entropy(target_out, logits, label_smoothing=label_smoothing)

    return loss_fn


def run(config: config_lib.TranslationConfig, verbose: int = 1) -> dict:
    """Runs the whole pipeline; returns the report also written to `report.json`."""
    os.makedirs(config.run_dir, exist_ok=True)
    atomic_write_json(
        os.path.join(config.run_dir, "config.json"), config_lib.to_dict(config)
    )
    config_lib.check_memory(config)
    set_seed(config.training.seed)
    corpus, skipped = load_parallel_corpus(config.data)
    tokenizers = tokenizer_models(config, corpus)
    source_processor = sp.processor(tokenizers["source"])
    target_processor = sp.processor(tokenizers["target"])

    def examples(split):
        return encode_split(config, source_processor, target_processor, corpus[split])

    train_sources, train_targets, dropped = examples("train")
    dev_sources, dev_targets, _ = examples("dev")
    data = config.data
    train_data = training_dataset(config, train_sources, train_targets)
    dev_data = translation_dataset(
        dev_sources,
        dev_targets,
        batch_size=64,
        bucket_width=data.bucket_width,
        max_length=data.max_length,
    )

    model = build_translator(
        config.model, source_processor.vocab_size(), target_processor.vocab_size()
    )
    optimizer = build_optimizer(config.training)
    loss_fn = translator_loss(config.training.label_smoothing)
    decoding = config.decoding

    def text_translator(model, beam_size):
        return TextTranslator(
            model,
            source_processor,
            target_processor,
            beam_size=beam_size,
            length_penalty=decoding.length_penalty,
            max_length_ratio=decoding.max_length_ratio,
            max_length_offset=decoding.max_length_offset,
        )

    # Validation loss is the plain negative log-likelihood (no label smoothing).
    dev_loss_fn = translator_loss(0.0)
    dev_loss_step = tf.function(
        lambda batch: dev_loss_fn(model, batch, False), reduce_retracing=True
    )
    validation_bleu = config.training.early_stopping_metric == "val_bleu"
    dev_texts = corpus["dev"][:VALIDATION_BLEU_SENTENCES]

    def evaluate(model):
        total, tokens = 0.0, 0.0
        for batch in dev_data:
            loss, count = dev_loss_step(batch)
            total += float(loss) * float(count)
            tokens += float(count)
        metrics = {"val_loss": total / max(tokens, 1.0)}
        if validation_bleu:
            hypotheses = text_translator(model, 1)(dev_texts["source"])
            metrics["val_bleu"] = corpus_scores(hypotheses, dev_texts["target"])["bleu"]
        return metrics

    result = train(
        model,
        optimizer,
        loss_fn,
        train_data,
        evaluate,
        config.training,
        config.run_dir,
        verbose=verbose,
    )

    test = corpus["test"]
    start = time.perf_counter()
    hypotheses = text_translator(model, decoding.beam_size)(
        list(test["source"]), batch_size=decoding.batch_size
    )
    decode_seconds = time.perf_counter() - start
    scores = corpus_scores(hypotheses, list(test["target"]))
    atomic_write_bytes(
        os.path.join(config.run_dir, "test.hyp"),
        ("\n".join(hypotheses) + "\n").encode("utf-8"),
    )

    export_path = None
    if config.export.enabled:
        export_path = export(config, model, tokenizers, list(test["source"])[:8])

    report = {
        "task": "translation",
        "name": config.name,
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "bleu_signature": scores["bleu_signature"],
        "test_sentences": scores["sentences"],
        "beam_size": decoding.beam_size,
        "decode_seconds": round(decode_seconds, 2),
        "export_path": export_path,
        "train_seconds": round(result.train_seconds, 1),
        "train_steps": result.steps,
        "train_tokens_per_second": round(result.tokens_per_second, 1),
        "stopped_early": result.stopped_early,
        "best_validation": result.best_metric,
        "history": result.history,
        "corpus": {split: len(corpus[split]) for split in corpus},
        "skipped_lines": skipped.as_dict(),
        "dropped_too_long": dropped,
        "vocab_size": {
            "source": source_processor.vocab_size(),
            "target": target_processor.vocab_size(),
        },
        "parameters": int(sum(v.numpy().size for v in model.trainable_variables)),
    }
    atomic_write_json(os.path.join(config.run_dir, "report.json"), report)
    if verbose:
        print(
            f"BLEU {report['bleu']} chrF {report['chrf']} "
            f"on {report['test_sentences']} "
            f"test sentences; exported to {export_path}"
        )
    return report


def export(
    config: config_lib.TranslationConfig,
    model,
    tokenizers: dict,
    warmup_sources=None,
    directory: str | None = None,
    name: str | None = None,
    extra_metadata: dict | None = None,
) -> str:
    """Writes the next SavedModel version under `directory/name` (default
    `export.directory/name` of the config), with `warmup_sources` (real test
    sentences) as its warmup requests and `extra_metadata` added to its
    metadata."""
    decoding = config.decoding
    module = TranslatorModule(
        model,
        tokenizers["source"],
        tokenizers["target"],
        beam_size=decoding.beam_size,
        length_penalty=decoding.length_penalty,
        max_length_ratio=decoding.max_length_ratio,
        max_length_offset=decoding.max_length_offset,
    )
    metadata = {
        "name": config.name,
        "special_ids": {
            "pad": sp.PAD_ID,
            "unk": sp.UNK_ID,
            "bos": sp.BOS_ID,
            "eos": sp.EOS_ID,
        },
        "config": dataclasses.asdict(config),
        **(extra_metadata or {}),
    }
    return export_translator(
        module,
        directory or config.export.directory,
        name or config.name,
        metadata,
        warmup_sources,
    )
