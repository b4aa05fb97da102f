"""Runs exported `.tflite` files the way an app does: LiteRT interpreter,
SentencePiece (translator) or the vocabulary JSON (tagger), NumPy.

Nothing here imports TensorFlow, except the TFText op registrar that a file
exported with `--tokenizer in-graph` needs.

Example:
>>> translator = TFLiteTranslator("en_de.tflite")  # doctest: +SKIP
>>> translator.translate(["A man is sleeping."])  # doctest: +SKIP
['Ein Mann schläft.']
"""

from __future__ import annotations

import json
import queue
import re
import unicodedata
import warnings

import numpy as np

from nlp_lstm.export.tflite.convert import read_metadata, sidecar_paths
from nlp_lstm.text.unicode import normalize_spaces, split_white_space
from nlp_lstm.utils.iterables import sorted_map

# Batches of texts read at once by a translator with batch signatures: sorted
# by length within, results in input order once the window is done.
WINDOW_BATCHES = 16


class TruncationWarning(UserWarning):
    """Input longer than the model takes, cut (the cut part is not tagged)."""


def make_interpreter(path: str, num_threads: int = 1, custom_ops: bool = False):
    """A LiteRT interpreter; with `custom_ops`, the TFText ops registered."""
    from ai_edge_litert import interpreter as litert

    if custom_ops:
        import tensorflow_text

        return litert.InterpreterWithCustomOps(
            model_path=path,
            num_threads=num_threads,
            custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        )
    return litert.Interpreter(model_path=path, num_threads=num_threads)


def _as_text(text) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text


class TFLiteTranslator:
    """Translates with a translator `.tflite` (greedy or beam, in the file).

    Args:
        path: str. The `.tflite`; its `FILE.json` and `FILE.spm.model` beside it.
        num_threads: int. LiteRT threads.
        workers: int. Interpreters of the batch signatures (files exported
            with a `batch_size`), each running batches on its own thread (one
            per core translates fastest).
    """

    def __init__(self, path: str, num_threads: int = 1, workers: int = 1):
        import sentencepiece

        self.path = path
        self.metadata = read_metadata(path)
        task = self.metadata.get("task")
        if task != "translation":
            raise ValueError(f"{path} is not a translator (task {task!r})")
        self.in_graph = self.metadata["tokenizer"] == "in-graph"
        self.interpreter = make_interpreter(path, num_threads, self.in_graph)
        paths = sidecar_paths(path)
        self.target_processor = sentencepiece.SentencePieceProcessor(
            model_file=paths["sentencepiece"]
        )
        if "source_sentencepiece" not in self.metadata["files"]:
            paths["source_sentencepiece"] = paths["sentencepiece"]
        self.source_processor = sentencepiece.SentencePieceProcessor(
            model_file=paths["source_sentencepiece"]
        )
        self.eos_id = self.metadata["special_ids"]["eos"]
        # Signature runners are made on first use: each allocates its
        # signature's tensors (a beam batch's are tens of MB).
        self._runners = {}
        # With batch signatures: one interpreter per worker (an interpreter
        # runs one call at a time).
        self.batch_size = self.metadata.get("signature_batch_size")
        self.workers = [self.interpreter]
        if self.batch_size:
            self.workers += [
                make_interpreter(path, num_threads, self.in_graph)
                for _ in range(max(1, workers) - 1)
            ]

    @property
    def batched(self) -> bool:
        """Whether the file has the batch signatures (`--batch-size`)."""
        return bool(self.batch_size)

    def signature(self, name: str, worker: int = 0):
        """The signature runner of `name` on worker `worker`'s interpreter."""
        key = (name, worker)
        if key not in self._runners:
            self._runners[key] = self.workers[worker].get_signature_runner(name)
        return self._runners[key]

    def warm_up(self, beam: bool = False) -> None:
        """Calls the search `translate` would use once on every worker's
        interpreter, on empty sources (rows of EOS alone): the first call
        prepares an interpreter (LiteRT applies its CPU delegate there)."""
        if self.in_graph:
            return  # text in: `translate_ids` prepares it on first use
        search = "beam" if beam else "greedy"
        rows = self.batch_size or 1
        name = f"translate_{search}_batch" if self.batched else f"translate_{search}"
        for worker in range(len(self.workers)):
            self.signature(name, worker)(
                source_ids=np.full([rows, 1], self.eos_id, np.int32),
                max_length=np.zeros([rows], np.int32),
                eos_id=np.asarray([self.eos_id], np.int32),
            )

    def encode(self, text: str) -> np.ndarray:
        """Source ids `(1, time)` as the SavedModel tokenizes them."""
        return self._source_row(self.source_processor.encode(normalize_spaces(text)))

    def _source_row(self, ids: list[int]) -> np.ndarray:
        ids = ids[: self.metadata["max_source_tokens"]]
        return np.asarray([ids + [self.eos_id]], np.int32)

    def translate_ids(self, text, beam: bool = False, max_length: int = 0):
        """`(ids, score)` of one sentence; a sentence with no piece (empty,
        whitespace, invisible characters) gives `([], 0.0)`, as the
        SavedModel does."""
        text = normalize_spaces(_as_text(text))
        pieces = self.source_processor.encode(text)
        if not pieces:
            return [], 0.0
        runner = self.signature("translate_beam" if beam else "translate_greedy")
        inputs = {
            "max_length": np.asarray([max_length], np.int32),
            "eos_id": np.asarray([self.eos_id], np.int32),
        }
        if self.in_graph:
            inputs["source"] = np.asarray([text.encode("utf-8")], object)
        else:
            inputs["source_ids"] = self._source_row(pieces)
        outputs = runner(**inputs)
        length = int(outputs["length"][0])
        return outputs["ids"][0, :length].tolist(), float(outputs["score"][0])

    def iter_translate_ids(self, texts, beam: bool = False):
        """Yields `translate_ids` of each text, in order (for streams). With
        the batch signatures (`--batch-size`), `nlp_lstm.utils.iterables.
        sorted_map` reads `WINDOW_BATCHES` batches of texts at a time, sorts
        them by length and runs a batch a call (a short batch filled with
        empty sources), the workers' interpreters at once on threads; else
        one call a text."""
        if not self.batched:
            for text in texts:
                yield self.translate_ids(text, beam)
            return
        name = "translate_beam_batch" if beam else "translate_greedy_batch"
        free = queue.SimpleQueue()  # an interpreter runs one call at a time
        for worker in range(len(self.workers)):
            free.put(self.signature(name, worker))

        def run(batch):
            rows = [
                self.source_processor.encode(normalize_spaces(_as_text(text)))
                for text in batch
            ]
            padded = [self._source_row(ids)[0].tolist() for ids in rows if ids]
            padded += [[self.eos_id]] * (self.batch_size - len(padded))
            width = max(len(row) for row in padded)
            runner = free.get()
            try:
                outputs = runner(
                    source_ids=np.asarray(
                        [row + [0] * (width - len(row)) for row in padded], np.int32
                    ),
                    max_length=np.zeros([self.batch_size], np.int32),
                    eos_id=np.asarray([self.eos_id], np.int32),
                )
            finally:
                free.put(runner)
            found = iter(range(len(padded)))
            results = []
            for ids in rows:  # a text with no piece: ([], 0.0), as translate_ids
                if not ids:
                    results.append(([], 0.0))
                    continue
                row = next(found)
                length = int(outputs["length"][row])
                ids = outputs["ids"][row, :length].tolist()
                results.append((ids, float(outputs["score"][row])))
            return results

        yield from sorted_map(
            run,
            texts,
            self.batch_size,
            key=len,
            window=self.batch_size * WINDOW_BATCHES,
            workers=len(self.workers),
        )

    def translate_ids_batched(
        self, texts, beam: bool = False
    ) -> list[tuple[list[int], float]]:
        """`translate_ids` of every text through the batch signatures
        (`iter_translate_ids`); a file without them is an error."""
        if not self.batched:
            raise ValueError(
                f"{self.path} has no batch signatures; export it with --batch-size"
            )
        return list(self.iter_translate_ids(texts, beam))

    def translate(self, texts, beam: bool = False) -> list[str]:
        """One translation per text: by `translate_ids_batched` when the
        file has the batch signatures, else one call each."""
        if self.batched:
            found = self.translate_ids_batched(texts, beam)
        else:
            found = [self.translate_ids(text, beam) for text in texts]
        return [self.target_processor.decode(ids) for ids, _ in found]




def _script(char: str) -> str:
    category = unicodedata.category(char)
    if category[0] not in "LM":
        return "COMMON"
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def split_words(sentence: str, kind: str) -> list[str]:
    """Whitespace tokens, or (`unicode_script`) also split where the script
    changes, like tensorflow_text's `UnicodeScriptTokenizer` (punctuation and
    digits are the Common script)."""
    tokens = split_white_space(sentence)
    if kind == "whitespace":
        return tokens
    words = []
    for token in tokens:
        start = 0
        for index in range(1, len(token) + 1):
            if index == len(token) or _script(token[index]) != _script(token[start]):
                words.append(token[start:index])
                start = index
    return words


def _lower(word: str) -> str:
    # One code point for one, like TF's utf-8 lowercasing.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in word)


def casing_class(token: str) -> str:
    """The `nlp_lstm.text.words.CASING` class of a token."""
    categories = [unicodedata.category(c) for c in token]
    if not token:
        return "pad"
    if all(c[0] == "N" for c in categories):
        return "numeric"
    if all(c == "Ll" for c in categories):
        return "lower"
    if all(c == "Lu" for c in categories):
        return "upper"
    if len(token) > 1 and categories[0] == "Lu" and all(
        c == "Ll" for c in categories[1:]
    ):
        return "title"
    if any(c[0] == "N" for c in categories) and "\n" not in token:
        return "has_digit"
    if all(c[0] == "L" for c in categories):
        return "mixed"
    return "other"


class TFLiteTagger:
    """Tags with a tagger `.tflite`; tokens are featurized here, as an app does.

    Args:
        path: str. The `.tflite`; `FILE.json` and `FILE.vocab.json` beside it.
        num_threads: int. LiteRT threads.
    """

    def __init__(self, path: str, num_threads: int = 1):
        self.path = path
        self.metadata = read_metadata(path)
        task = self.metadata.get("task")
        if task != "tagging":
            raise ValueError(f"{path} is not a tagger (task {task!r})")
        with open(sidecar_paths(path)["vocabulary"], encoding="utf-8") as stream:
            self.vocabulary = json.load(stream)
        vocabulary = self.vocabulary
        self.word_index = {word: i for i, word in enumerate(vocabulary["words"])}
        self.char_index = {char: i for i, char in enumerate(vocabulary["chars"])}
        self.char_index.pop("", None)
        self.char_index.pop("[UNK]", None)
        self.casing_index = {name: i for i, name in enumerate(vocabulary["casing"])}
        self.tags = vocabulary["tags"]
        self.max_tokens = self.metadata["max_tokens"]
        self.interpreter = make_interpreter(path, num_threads)
        self.runner = self.interpreter.get_signature_runner("serving_default")
        self.inputs = list(self.metadata["signatures"]["serving_default"]["inputs"])

    def features(self, tokens: list[str]) -> dict:
        """The int32 inputs of one sentence (cut to `max_tokens`)."""
        vocabulary = self.vocabulary
        tokens = tokens[: self.max_tokens]
        width = vocabulary["max_word_chars"]
        word_ids = np.zeros((1, len(tokens)), np.int32)
        char_ids = np.zeros((1, len(tokens), width), np.int32)
        casing_ids = np.zeros((1, len(tokens)), np.int32)
        for index, token in enumerate(tokens):
            word = _lower(token) if vocabulary["lowercase"] else token
            if vocabulary["normalize_digits"]:
                word = re.sub("[0-9]", "0", word)
            word_ids[0, index] = self.word_index.get(word, 1) if word else 1
            for position, char in enumerate(token[:width]):
                char_ids[0, index, position] = self.char_index.get(char, 1)
            casing_ids[0, index] = self.casing_index[casing_class(token)]
        features = {"word_ids": word_ids, "char_ids": char_ids,
                    "casing_ids": casing_ids}
        return {name: features[name] for name in self.inputs}

    def tag_tokens(self, tokens: list[str]) -> list[str]:
        """Tags of one pre-tokenized sentence (tokens past `max_tokens` get "",
        with a `TruncationWarning`)."""
        if not tokens:
            return []
        if len(tokens) > self.max_tokens:
            warnings.warn(
                f"a sentence of {len(tokens)} tokens was cut to the model's "
                f"maximum of {self.max_tokens} tokens (the rest get no tag)",
                TruncationWarning,
                stacklevel=2,
            )
        ids = self.runner(**self.features(list(tokens)))["tags"][0]
        tags = [self.tags[i] for i in ids.tolist()]
        return tags + [""] * (len(tokens) - len(tags))

    def tag(self, texts) -> list[dict]:
        """`{"tokens": [...], "tags": [...]}` for each raw sentence."""
        results = []
        for text in texts:
            tokens = split_words(_as_text(text), self.metadata["word_tokenizer"])
            results.append({"tokens": tokens, "tags": self.tag_tokens(tokens)})
        return results


def load_runner(path: str, num_threads: int = 1, workers: int = 1):
    """`TFLiteTranslator` or `TFLiteTagger`, from the file's metadata
    (`workers`: the translator's batch interpreters)."""
    # The runner verifies the set; here only its task is read.
    task = read_metadata(path, verify=False).get("task")
    if task == "translation":
        return TFLiteTranslator(path, num_threads, workers)
    return TFLiteTagger(path, num_threads)
