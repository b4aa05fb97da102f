"""Runners of exported SavedModels: text in, translations or tags out.

`SavedModelTranslator` and `SavedModelTagger` load a SavedModel written by
`nlp_lstm.export.translator` or `nlp_lstm.export.tagger` (a version folder, a
`saved_models/<name>` folder, whose highest version is used, or a run folder)
and call its signatures in batches. Loading needs only TensorFlow and the
tensorflow-text kernels (`nlp_lstm.export.runtime`: neither Keras nor the rest
of this package is imported). They mirror the LiteRT runners of
`nlp_lstm.export.tflite.runtime`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator

from nlp_lstm.export import layout, runtime
from nlp_lstm.utils.cores import warn_if_bfloat16_is_emulated
from nlp_lstm.utils.iterables import sorted_map

runtime.import_runtime()

DEFAULT_BATCH_SIZE = 64
# A tagger's sentences per call. Smaller batches tag faster and in less
# memory here: the 2,077 UD English-EWT test sentences, one process, two
# threads, warm, through `tag_tokens`: 0.85 s at 16, 0.91-0.93 s at 32,
# 1.21-1.23 s at 64; `nlp-lstm tag` of the raw sentences: 3.03-3.05 s and
# 693-697 MB at 16, 3.50-3.61 s and 1,108-1,146 MB at 64; the same tags
# (2026-12-05; docs/benchmarks.md, "Start-up without TensorFlow's public API").
TAGGER_BATCH_SIZE = 16
# Texts read, sorted by length and translated together: batches of similar
# lengths stop their search (and pad) sooner.
SORT_WINDOW_BATCHES = 16


def _text(value: bytes) -> str:
    # Exports before 2026-12 could return invalid UTF-8 tokens: one bad token
    # must not stop a stream of lines.
    return value.decode("utf-8", errors="replace")


class RunnerWarning(UserWarning):
    """The runner did something other than asked (another beam size, cut
    sentences); the result is still valid."""


def _load(path: str, task: str, signatures=None):
    """`(resolved path, metadata, loaded SavedModel)` (with only the
    `signatures` named, when given: `runtime.load_signatures`); checks the
    metadata's task."""
    resolved = layout.resolve(path)
    runtime.load_text_ops(resolved)
    metadata = layout.read_metadata(resolved)
    found = metadata.get("task", task)
    if found != task:
        raise ValueError(
            f"{resolved} holds a {found} model, not a {task} model; pass the folder "
            f"of a model exported by pipelines/{task}.py"
        )
    if signatures is None:
        return resolved, metadata, runtime.load_saved_model(resolved)
    return resolved, metadata, runtime.load_signatures(resolved, signatures)


def _signature(loaded, path: str, name: str, fix: str):
    """`loaded`'s signature `name`; `fix` says how to load it where the
    runner loaded other signatures only."""
    if name not in loaded.signatures:
        if isinstance(loaded, runtime.LoadedSignatures):
            raise ValueError(
                f"{path} was loaded with its signatures {sorted(loaded.signatures)} "
                f"only, not {name!r}: {fix}"
            )
        raise ValueError(
            f"{path} has no signature {name!r}; it has {sorted(loaded.signatures)}"
        )
    return loaded.signatures[name]


def translator_signature(beam_size: int | None) -> str:
    """The translator signature for a beam size: greedy for 1, else the
    exported beam search."""
    return "translate_greedy" if beam_size == 1 else "serving_default"


def _check_precision(path: str, metadata: dict) -> None:
    """Warns when a translator exported with `decoding.precision: bfloat16`
    runs on a CPU without bfloat16 instructions."""
    decoding = metadata.get("config", {}).get("decoding", {})
    if decoding.get("precision") == "bfloat16":
        warn_if_bfloat16_is_emulated(
            f"{path}'s decoding.precision",
            "Export it in float32 for this machine: "
            "nlp-lstm serving export RUN --precision float32",
            stacklevel=3,
        )


def _check_workers(workers: int) -> int:
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return workers


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


class SavedModelTranslator:
    """Translates with an exported translator SavedModel.

    Args:
        path: str. A SavedModel version folder, a `saved_models/<name>` folder
            (its highest version) or a run folder (its `report.json`'s
            `export_path`).
        workers: int. Batches translated at once, on threads; pair it with
            `nlp_lstm.export.runtime.use_threads(workers)` (one thread a call:
            what `nlp-lstm translate` does with every usable core).
        beam_sizes: None (every signature), or the beam sizes the caller will
            translate with: only their signatures (`translator_signature`)
            are loaded, which starts faster (`runtime.load_signatures`).

    Attributes:
        path: str. The SavedModel version folder used.
        metadata: dict. Its `assets.extra/nlp_lstm.json`.

    Example:
    >>> translator = SavedModelTranslator("saved_models/multi30k_en_de")
    >>> translator.translate(["A dog runs."], beam_size=1)  # doctest: +SKIP
    ['Ein Hund rennt.']
    """

    task = "translation"

    def __init__(self, path: str, workers: int = 1, beam_sizes=None):
        signatures = None
        if beam_sizes is not None:
            signatures = sorted({translator_signature(size) for size in beam_sizes})
        self.path, self.metadata, self._loaded = _load(path, self.task, signatures)
        self.workers = _check_workers(workers)
        _check_precision(self.path, self.metadata)

    @functools.cached_property
    def bundle(self):
        """The `TranslatorBundle` this version carries (the Keras model)."""
        # Imported on use: running the SavedModel needs no Keras.
        from nlp_lstm.export.bundles import bundle_of  # noqa: PLC0415

        return bundle_of(self.path)

    def _signature_for(self, beam_size: int | None):
        """`translate_greedy` for beam 1, else `serving_default` (the exported
        beam; a warning when another one was asked for)."""
        if beam_size is not None and beam_size < 1:
            raise ValueError(f"beam_size must be positive or None, got {beam_size}")
        name = translator_signature(beam_size)
        exported = self.metadata.get("beam_size")
        if beam_size not in (None, 1) and exported not in (None, beam_size):
            warnings.warn(
                f"the model was exported with beam size {exported}; using it "
                f"(re-export with --set decoding.beam_size={beam_size})",
                RunnerWarning,
                stacklevel=3,
            )
        return self._translator_signature(name)

    def _translator_signature(self, name: str):
        return _signature(
            self._loaded,
            self.path,
            name,
            fix="pass the beam size to the runner's beam_sizes",
        )

    def warm_up(self, beam_size: int | None = None) -> None:
        """Calls the signature `translate` would use once, on one short text:
        a signature's first call prepares its graph (about a second)."""
        signature = self._translator_signature(translator_signature(beam_size))
        signature(sources=runtime.strings(["."]))

    def iter_translate(
        self,
        texts: Iterable[str],
        beam_size: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[str]:
        """Yields one translation per text, in order, as each run of
        `SORT_WINDOW_BATCHES` batches is done (for streams). Within a run,
        texts are sorted by length before they are batched."""
        _check_batch_size(batch_size)
        signature = self._signature_for(beam_size)

        def translate_batch(batch):
            outputs = signature(sources=runtime.strings(batch))
            texts = outputs["translations"].numpy()
            return [text.decode("utf-8", errors="replace") for text in texts]

        yield from sorted_map(
            translate_batch,
            texts,
            batch_size,
            key=len,
            window=batch_size * SORT_WINDOW_BATCHES,
            workers=self.workers,
        )

    def translate(
        self,
        texts: list[str],
        beam_size: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[str]:
        """One translation per text.

        Args:
            texts: list of str (bytes are passed on as they are, so input
                that is not valid UTF-8 reaches the model's own handling).
            beam_size: int. 1 for greedy search; None (or the exported beam
                size) for the exported beam search. Another value warns and
                uses the exported one: the beam is fixed at export.
            batch_size: int. Texts per signature call.

        Returns:
            list of str, one per text ("" for an empty text).
        """
        return list(self.iter_translate(texts, beam_size, batch_size))


# A tagger's signature by whether its input is pre-tokenized.
_TAGGER_SIGNATURES = {False: "serving_default", True: "tag_tokens"}


class SavedModelTagger:
    """Tags with an exported tagger SavedModel.

    Args:
        path: str. As for `SavedModelTranslator`.
        workers: int. Batches tagged at once, on threads (as for
            `SavedModelTranslator`).
        pretokenized: None (every signature), True (`tag_tokens` only, for
            `tag_tokens`) or False (`serving_default` only, for `tag`): one
            signature loads faster (`runtime.load_signatures`).

    Attributes:
        path: str. The SavedModel version folder used.
        metadata: dict. Its `assets.extra/nlp_lstm.json` (`tags`, `scheme`,
            `max_tokens`, ...).

    Example:
    >>> tagger = SavedModelTagger("saved_models/tagger_wnut17")
    >>> tagger.tag(["Obama visited Madrid ."])  # doctest: +SKIP
    [{'tokens': ['Obama', 'visited', 'Madrid', '.'], 'tags': ['B-person', ...]}]
    """

    task = "tagging"

    def __init__(self, path: str, workers: int = 1, pretokenized: bool | None = None):
        signatures = None
        if pretokenized is not None:
            signatures = [_TAGGER_SIGNATURES[pretokenized]]
        self.path, self.metadata, self._loaded = _load(path, self.task, signatures)
        self.workers = _check_workers(workers)

    def _tagger_signature(self, pretokenized: bool):
        return _signature(
            self._loaded,
            self.path,
            _TAGGER_SIGNATURES[pretokenized],
            fix="pass pretokenized=None to the runner (it loads both)",
        )

    @property
    def scheme(self) -> str:
        """The tag scheme the model predicts in (`none` for POS)."""
        return self.metadata.get("scheme", "none")

    @functools.cached_property
    def bundle(self):
        """The `TaggerBundle` this version carries (the Keras model)."""
        # Imported on use: running the SavedModel needs no Keras.
        from nlp_lstm.export.bundles import bundle_of  # noqa: PLC0415

        return bundle_of(self.path)

    def _rows(self, outputs) -> Iterator[dict]:
        """`{"tokens", "tags"}` per row of a signature's dense outputs."""
        count = int(outputs["truncated"].numpy().sum())
        if count:
            warnings.warn(
                f"{count} sentence(s) were cut to the model's maximum of "
                f"{self.metadata.get('max_tokens')} tokens",
                RunnerWarning,
                stacklevel=4,
            )
        tokens = outputs["tokens"].numpy()
        tags = outputs["tags"].numpy()
        for row, length in enumerate(outputs["lengths"].numpy()):
            yield {
                "tokens": [_text(token) for token in tokens[row, :length]],
                "tags": [_text(tag) for tag in tags[row, :length]],
            }

    def warm_up(self, pretokenized: bool = False) -> None:
        """Calls the signature `tag` (or `tag_tokens`) uses once, on one
        token: a signature's first call prepares its graph."""
        if pretokenized:
            self._tagger_signature(True)(tokens=runtime.strings([["."]]))
        else:
            self._tagger_signature(False)(sentences=runtime.strings(["."]))

    def _sorted(self, tag_batch, items, batch_size: int) -> Iterator[dict]:
        """`tag_batch`'s rows, in input order: `SORT_WINDOW_BATCHES` batches
        read at a time, sorted by length, `workers` batches at once."""
        _check_batch_size(batch_size)
        yield from sorted_map(
            lambda batch: list(self._rows(tag_batch(batch))),
            items,
            batch_size,
            key=len,
            window=batch_size * SORT_WINDOW_BATCHES,
            workers=self.workers,
        )

    def iter_tag(
        self, sentences: Iterable[str], batch_size: int = TAGGER_BATCH_SIZE
    ) -> Iterator[dict]:
        """Yields `tag`'s results, in order, as each run of
        `SORT_WINDOW_BATCHES` batches is done (for streams). Within a run,
        sentences are sorted by length before they are batched."""
        signature = self._tagger_signature(False)
        return self._sorted(
            lambda batch: signature(sentences=runtime.strings(batch)),
            sentences,
            batch_size,
        )

    def iter_tag_tokens(
        self, sentences: Iterable[list[str]], batch_size: int = TAGGER_BATCH_SIZE
    ) -> Iterator[dict]:
        """Yields `tag_tokens`'s results as `iter_tag` does."""
        signature = self._tagger_signature(True)

        def tag_batch(batch):
            width = max([1] + [len(tokens) for tokens in batch])
            # (batch, width), padded with "" (which ends a row).
            padded = [list(tokens) + [""] * (width - len(tokens)) for tokens in batch]
            return signature(tokens=runtime.strings(padded))

        return self._sorted(tag_batch, sentences, batch_size)

    def tag(
        self, sentences: list[str], batch_size: int = TAGGER_BATCH_SIZE
    ) -> list[dict]:
        """Splits raw sentences into tokens (as trained) and tags them.

        Args:
            sentences: list of str.
            batch_size: int. Sentences per signature call.

        Returns:
            One `{"tokens": [...], "tags": [...]}` per sentence. A sentence
            longer than the model's `max_tokens` is cut there (with a
            `RunnerWarning`); an empty one gets no tokens.
        """
        return list(self.iter_tag(sentences, batch_size))

    def tag_tokens(
        self, sentences: list[list[str]], batch_size: int = TAGGER_BATCH_SIZE
    ) -> list[dict]:
        """Tags pre-tokenized sentences (tokens must not be "").

        Returns:
            As `tag`; `tokens` are the given ones, cut at `max_tokens`.
        """
        return list(self.iter_tag_tokens(sentences, batch_size))
