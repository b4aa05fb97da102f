"""The tagging pipeline: corpus -> vocabularies -> train -> bundle ->
evaluate -> export."""

from __future__ import annotations

import dataclasses
import os

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import TaggerBundle
from nlp_lstm.bundle.card import write_run_card
from nlp_lstm.bundle.files import set_evaluation
from nlp_lstm.bundle.models import reopen_run
from nlp_lstm.data.batching import tagging_training_dataset
from nlp_lstm.evaluation import plots
from nlp_lstm.evaluation.slices import tagging_slices
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.evaluation.validation import TaggerEvaluator
from nlp_lstm.export.bundles import export_saved_model
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.text.words import PAD, UNK_ID
from nlp_lstm.training import distribute
from nlp_lstm.training.distribute import Distribution
from nlp_lstm.training.inputs import init_pretrained_embeddings, tagging_data
from nlp_lstm.training.losses import tagger_loss
from nlp_lstm.training.optimizers import build_optimizer
from nlp_lstm.training.tbptt import TruncatedBPTT
from nlp_lstm.training.trainer import read_history, set_seed, train
from nlp_lstm.utils.files import atomic_write_json, exclusive_folder

SAMPLE_SENTENCES = 8


def run(config: config_lib.TaggingConfig, verbose: int = 1) -> dict:
    """Trains, evaluates and exports a tagger; writes `report.json`. The run
    folder ends up a bundle (`nlp_lstm.load(config.run_dir)`).

    Returns:
        The report: `f1` (entity tasks) or `accuracy` (POS) on the test set,
        `per_type`, `export_path` (None when export is disabled),
        `train_seconds`, and the data, vocabulary and validation details.
    """
    return distribute.run_as_worker(config, verbose, _run)


def _run(config: config_lib.TaggingConfig, verbose: int,
         distribution: Distribution) -> dict:
    config_lib.check_memory(config)
    set_seed(config.training.seed)
    os.makedirs(config.run_dir, exist_ok=True)
    data = tagging_data(config)
    tokens, gold, featurizer = data.tokens, data.gold, data.featurizer
    words, chars = featurizer.words, featurizer.chars
    with distribute.scope(distribution.strategy):
        model = build_tagger(
            config.model, data.tag_vocabulary, words.size, chars.size,
            word_dropout_from_id=word_dropout_from_id(config, words),
        )
    pretrained_found = init_pretrained_embeddings(model, config, words)
    validation = TaggerEvaluator(
        model, featurizer, tokens["dev"], gold["dev"], data.tag_vocabulary
    )
    train_ids = [data.tag_vocabulary.encode(tags) for tags in gold["train"]]
    with distribute.scope(distribution.strategy):
        result = train(
            model,
            build_optimizer(config.training),
            tagger_loss(featurizer),
            tagging_training_dataset(
                tokens["train"], train_ids, config.data.max_length,
                config.data.batch_size, config.data.shuffle_buffer,
                config.training.seed, pad=PAD,
            ),
            lambda model: validation.metrics(data.scheme, config.is_entity_task),
            dataclasses.replace(
                config.training, early_stopping_metric=config.early_stopping_metric
            ),
            config.run_dir,
            verbose=verbose,
            strategy=distribution.strategy,
            restore_dir=distribution.restore_dir,
            gradient_fn=(
                TruncatedBPTT(model, featurizer, config.training.tbptt.chunk)
                if config.training.tbptt.chunk
                else None
            ),
        )
    samples = [" ".join(row) for row in tokens["test"][:SAMPLE_SENTENCES]]
    bundle = TaggerBundle(
        config, model, featurizer, data.tag_vocabulary,
        metadata={"samples": samples},
    )
    test_loss, predicted = TaggerEvaluator(
        model, featurizer, tokens["test"], gold["test"], data.tag_vocabulary
    )()
    scores = tagging_scores(gold["test"], predicted, data.scheme)
    bundle.metadata["evaluation"] = test_evaluation(config, data, predicted, scores)
    bundle.save(config.run_dir)
    card_path, plot_paths = describe(config, bundle, result.history, data, predicted)
    export_path = (
        export_saved_model(bundle, run_dir=config.run_dir)
        if config.export.enabled
        else None
    )
    report = _report(config, data, scores, test_loss, export_path, result)
    report["vocabulary"]["pretrained_found"] = pretrained_found
    report["card"], report["plots"] = card_path, plot_paths
    atomic_write_json(os.path.join(config.run_dir, "report.json"), report)
    return report


def word_dropout_from_id(config, words) -> int:
    """The first word id that word dropout replaces: every known word, or
    (`embedder.word_dropout_max_count`) those seen at most that many times."""
    max_count = config.model.embedder.word_dropout_max_count
    return words.first_id_seen_at_most(max_count) if max_count else UNK_ID + 1


def _report(config, data, scores: dict, test_loss: float, export_path,
            result) -> dict:
    tokens, words, chars = data.tokens, data.featurizer.words, data.featurizer.chars
    return {
        "name": config.name,
        "task": "entity" if config.is_entity_task else "pos",
        "scheme": data.scheme,
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
            **data.data_report,
            "sentences": {split: len(tokens[split]) for split in tokens},
            "train_sentences_cut": sum(
                len(row) > config.data.max_length for row in tokens["train"]
            ),
        },
        "vocabulary": {
            "words": words.size,
            "chars": chars.size,
            "tags": len(data.tag_vocabulary),
        },
        "config": config_lib.to_dict(config),
    }


def test_evaluation(config, data, predicted: list[list[str]], scores: dict) -> dict:
    """What the model card shows of the test set: the scores, the same per
    slice with bootstrap intervals, and the limits the data shows."""
    tokens, gold = data.tokens, data.gold
    words = data.featurizer.words
    in_vocabulary = words.in_vocabulary(tokens["test"])
    sliced = tagging_slices(
        tokens["test"], gold["test"], predicted, data.scheme, in_vocabulary
    )
    test_tokens = sum(len(row) for row in tokens["test"])
    oov = test_tokens - sum(sum(row) for row in in_vocabulary)
    longest = max((len(row) for row in tokens["train"]), default=0)
    cut = sum(len(row) > config.data.max_length for row in tokens["train"])
    kinds = sorted(
        {tag.split("-", 1)[-1] for tag in data.tag_vocabulary.tags if tag != "O"}
    ) if config.is_entity_task else list(data.tag_vocabulary.tags)
    embedder = config.model.embedder
    languages = config.card.languages
    notes = [
        f"Sentences longer than {config.export.max_tokens} tokens are cut there "
        "by the exports (the rest is left untagged).",
        f"Raw text is split into words by the {config.data.tokenizer} tokenizer; "
        "text tokenized otherwise should be passed as tokens.",
        f"Trained on {len(tokens['train']):,} sentences (the longest has "
        f"{longest} tokens; {cut} longer than {config.data.max_length} were cut "
        "in training).",
        f"It predicts only {', '.join(kinds)}"
        + (" entities" if config.is_entity_task else " tags")
        + "; anything else is not covered.",
        f"{oov:,} of the {test_tokens:,} test tokens "
        f"({100.0 * oov / max(test_tokens, 1):.1f}%) are out of the word "
        f"vocabulary ({words.size:,} words seen at least {embedder.min_frequency} "
        "times in training); the model reads their characters only.",
        (f"Trained on {', '.join(languages)} text only."
         if languages else "The language is not stated (card.languages)."),
    ]
    return {
        "test_set": {
            "description": f"{len(tokens['test']):,} sentences of "
                           f"{os.path.basename(config.data.test)}",
            "sentences": len(tokens["test"]),
        },
        "decoding": ("Viterbi decoding of the CRF" if config.model.head == "crf"
                     else "the most likely tag of each token"),
        "scores": scores,
        "slices": sliced,
        "limits": {
            "max_tokens": config.export.max_tokens,
            "train_max_length": config.data.max_length,
            "train_sentences_cut": cut,
            "train_longest_sentence": longest,
            "types": kinds,
            "test_tokens_out_of_vocabulary": oov,
            "notes": notes,
        },
    }


def draw_plots(config, history: list[dict], gold, predicted) -> list:
    """The run's training curves and the test set's confusion matrix, in
    `run_dir/plots/`; returns the paths."""
    folder, paths = plots.run_plots(config.run_dir, config.name, history)
    if any(gold):
        paths.append(plots.confusion_matrix(
            gold, predicted, os.path.join(folder, "confusion.png"),
            f"{config.name}: test tokens, gold against predicted",
        ))
    return paths


def describe(config, bundle, history, data, predicted) -> tuple[str, list[str]]:
    """Writes the run folder's model card and (`card.plots`) its plots;
    returns their paths."""
    card_path = write_run_card(bundle, config.run_dir)
    if not config.card.plots:
        return card_path, []
    return card_path, draw_plots(config, history, data.gold["test"], predicted)


def describe_run(run_dir: str, verbose: int = 1) -> dict:
    """Evaluates a tagger's run folder on its test set again and writes what
    `run` writes after training: the evaluation in `bundle.json`, the card
    and the plots (for runs made before cards, or after a change of the
    `card` section). The training data must be there, unchanged.

    Returns:
        The evaluation.
    """
    with exclusive_folder(run_dir):
        bundle, config = reopen_run(run_dir)
        data = dataclasses.replace(
            tagging_data(config), featurizer=bundle.featurizer,
            tag_vocabulary=bundle.tag_vocabulary,
        )
        _, predicted = TaggerEvaluator(
            bundle.model, bundle.featurizer, data.tokens["test"],
            data.gold["test"], bundle.tag_vocabulary,
        )()
        scores = tagging_scores(data.gold["test"], predicted, data.scheme)
        evaluation = test_evaluation(config, data, predicted, scores)
        bundle.metadata = set_evaluation(run_dir, evaluation)
        describe(config, bundle, read_history(run_dir), data, predicted)
    if verbose:
        metric = "f1" if config.is_entity_task else "accuracy"
        print(f"{metric} {scores[metric]} on {scores.get('sentences', len(predicted))}"
              f" test sentences; card: {os.path.join(run_dir, 'card.md')}")
    return evaluation
