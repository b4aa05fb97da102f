"""Loss and metrics of a model on a fixed set of examples: the validation
functions the trainer calls, and the taggers' test evaluation."""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.data.batching import tagging_evaluation_batches
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.evaluation.translation import corpus_scores


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
        self.batches = tagging_evaluation_batches(tokens, tag_ids)
        signature = [
            tf.TensorSpec([None, None], tf.string),
            tf.TensorSpec([None, None], tf.int32),
        ]

        @tf.function(input_signature=signature, autograph=False)
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

    def metrics(self, scheme: str, entity_task: bool) -> dict:
        """`val_loss`, `val_accuracy` and (entity tasks) `val_f1`."""
        loss, predicted = self()
        scores = tagging_scores(self.gold, predicted, scheme)
        metrics = {"val_loss": loss, "val_accuracy": scores["accuracy"]}
        if entity_task:
            metrics["val_f1"] = scores["f1"]
        return metrics


class TranslationValidator:
    """Validation loss (plain negative log-likelihood per target token) of a
    translator over `batches`, and greedy BLEU on `texts` when asked.

    Args:
        model: the `Translator`.
        loss_fn: `loss_fn(model, batch, training) -> (loss, tokens)`.
        batches: a finite `tf.data.Dataset` of `((source, target_in), target_out)`.
        translate: `translate(list[str]) -> list[str]`, for BLEU; None: no BLEU.
        texts: `{"source": [...], "target": [...]}` scored with BLEU.
    """

    def __init__(self, model, loss_fn, batches, translate=None, texts=None):
        self.batches = batches
        self.translate = translate
        self.texts = texts
        # One trace for every batch the dataset can give.
        self.loss_step = tf.function(
            lambda batch: loss_fn(model, batch, False),
            input_signature=[batches.element_spec],
            autograph=False,
        )

    def __call__(self, model) -> dict:
        total, tokens = 0.0, 0.0
        for batch in self.batches:
            loss, count = self.loss_step(batch)
            total += float(loss) * float(count)
            tokens += float(count)
        metrics = {"val_loss": total / max(tokens, 1.0)}
        if self.translate is not None:
            hypotheses = self.translate(list(self.texts["source"]))
            metrics["val_bleu"] = corpus_scores(
                hypotheses, list(self.texts["target"])
            )["bleu"]
        return metrics
