"""A new SavedModel version from a trained model, without training.

    nlp-lstm serving export runs/multi30k_en_de [--directory saved_models] \
        [--precision bfloat16] [--shortlist 100]

The model comes from its bundle (a run folder, or the bundle an earlier
SavedModel version carries) and is exported the way the pipeline exports it:
current signatures, warmup requests made of the bundle's sample sentences, op
check. Use it to bring exports made before a change of the export code up to
date. The training corpus is not read, unless `--shortlist` asks for a lexical
shortlist to be estimated on it.
"""

from __future__ import annotations

from nlp_lstm.export.bundles import bundle_of, export_saved_model


def export_run(path: str, directory: str | None = None,
               name: str | None = None, precision: str | None = None,
               shortlist: int | None = None,
               shortlist_frequent: int | None = None,
               lookup_tables: bool | None = None) -> str:
    """Exports the trained model of a run folder or SavedModel folder.

    Args:
        path: str. A run folder, a SavedModel model folder or version folder.
        directory: str. SavedModel root; the config's `export.directory`
            when None.
        name: str. Model folder name; the config's `name` when None.
        precision: str. A translator's `decoding.precision` (`float32` or
            `bfloat16`); the config's when None.
        shortlist, shortlist_frequent: int. A translator's
            `decoding.shortlist` and `decoding.shortlist_frequent`: a shortlist
            estimated on the run's training corpus (which must be where the
            bundle recorded it; 0: the whole vocabulary); the bundle's own
            when None.
        lookup_tables: bool. A translator's `decoding.lookup_tables`; the
            config's when None.

    Returns:
        The new version folder.
    """
    if shortlist_frequent is not None and shortlist is None:
        raise ValueError(
            "--shortlist-frequent sets how many frequent pieces a new shortlist "
            "keeps: pass --shortlist N with it"
        )
    bundle = bundle_of(path)
    for option, value in (
        ("--precision", precision),
        ("--shortlist", shortlist),
        ("--lookup-tables", lookup_tables),
    ):
        if value is not None and not hasattr(bundle, "set_decoding"):
            raise ValueError(
                f"{option} is a translator's decoding setting; {path} is a tagger"
            )
    if precision is not None:
        bundle.set_decoding(precision=precision)
    if lookup_tables is not None:
        bundle.set_decoding(lookup_tables=lookup_tables)
    if shortlist is not None:
        bundle.add_shortlist(shortlist, shortlist_frequent)
    return export_saved_model(
        bundle, directory, name, extra_metadata={"exported_from": bundle.path}
    )
