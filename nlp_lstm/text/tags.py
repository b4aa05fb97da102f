"""Tag vocabularies and the IOB1, IOB2 (BIO) and BIOES tagging schemes.

Entity tags are `PREFIX-TYPE` (`B-PER`) or `O`. The schemes differ in how an
entity starts and ends:

- IOB1: `I-` everywhere; `B-` only starts an entity that directly follows
  another one of the same type.
- IOB2 (BIO): every entity starts with `B-`.
- BIOES: `S-` marks a one-token entity, `E-` the last token of a longer one.

`none` is the scheme of tags without structure (POS tags): nothing is
converted or checked.

Example:
>>> convert(["I-PER", "I-PER", "O", "I-LOC"], "iob1", "bioes")
['B-PER', 'E-PER', 'O', 'S-LOC']
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("iob1", "iob2", "bioes", "none")
OUTSIDE = "O"
PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "bioes": ("B", "I", "E", "S")}


def split_tag(tag: str) -> tuple[str, str]:
    """Splits `B-PER` into `("B", "PER")`; `O` is `("O", "")`."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, separator, kind = tag.partition("-")
    if not separator or not kind or len(prefix) != 1:
        return "", tag
    return prefix, kind


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def tag_errors(tags: list[str], scheme: str) -> list[tuple[int, str]]:
    """Positions and reasons of tags that break `scheme`.

    Returns:
        `(index, reason)` pairs: a tag whose prefix the scheme does not have, or
        (IOB2 and BIOES) an entity that does not start with `B-`/`S-` or does
        not end with `E-`/`S-` (BIOES).
    """
    _check_scheme(scheme)
    if scheme == "none":
        return []
    errors = []
    allowed = PREFIXES[scheme]
    previous_prefix, previous_kind = OUTSIDE, ""
    for index, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix != OUTSIDE and prefix not in allowed:
            errors.append(
                (index, f"tag {tag!r} is not in the {scheme.upper()} scheme "
                        f"(expected O or {'/'.join(allowed)}-TYPE)")
            )
            previous_prefix, previous_kind = OUTSIDE, ""
            continue
        inside = prefix in ("I", "E")
        continues = previous_prefix in ("B", "I") and previous_kind == kind
        if scheme in ("iob2", "bioes") and inside and not continues:
            errors.append((index, f"tag {tag!r} continues no entity (lone {prefix}-)"))
        if scheme == "bioes" and previous_prefix in ("B", "I"):
            if not (inside and previous_kind == kind):
                errors.append(
                    (index - 1, f"entity {previous_kind!r} is not closed by E- or S-")
                )
        previous_prefix, previous_kind = prefix, kind
    if scheme == "bioes" and previous_prefix in ("B", "I"):
        errors.append((len(tags) - 1, f"entity {previous_kind!r} is not closed by E-"))
    return errors


def repair(tags: list[str], scheme: str) -> tuple[list[str], int]:
    """Turns I- (and BIOES E-) tags that start an entity into B- (or S-).

    Returns:
        The repaired tags and how many were changed.
    """
    _check_scheme(scheme)
    if scheme not in ("iob2", "bioes"):
        return list(tags), 0
    repaired, count = [], 0
    previous_prefix, previous_kind = OUTSIDE, ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        continues = previous_prefix in ("B", "I") and previous_kind == kind
        if prefix in ("I", "E") and not continues:
            prefix = "B" if prefix == "I" else "S"
            tag = f"{prefix}-{kind}"
            count += 1
        repaired.append(tag)
        previous_prefix, previous_kind = prefix, kind
    return repaired, count


def _spans(tags: list[str], scheme: str) -> list[tuple[int, int, str]]:
    """Entities as `(start, end_exclusive, type)`, read leniently."""
    spans = []
    start, current = None, ""
    for index, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        begins = prefix in ("B", "S") or (
            prefix in ("I", "E") and (start is None or kind != current)
        )
        if scheme == "iob1" and prefix == "I" and start is not None and kind == current:
            begins = False
        if prefix == OUTSIDE or begins:
            if start is not None:
                spans.append((start, index, current))
            start, current = (None, "") if prefix == OUTSIDE else (index, kind)
        if prefix in ("E", "S") and start is not None:
            spans.append((start, index + 1, current))
            start, current = None, ""
    if start is not None:
        spans.append((start, len(tags), current))
    return spans


def _write(spans, length: int, scheme: str) -> list[str]:
    tags = [OUTSIDE] * length
    previous_end, previous_kind = -1, ""
    for start, end, kind in spans:
        for index in range(start, end):
            tags[index] = f"I-{kind}"
        if scheme == "iob2":
            tags[start] = f"B-{kind}"
        elif scheme == "iob1":
            if previous_end == start and previous_kind == kind:
                tags[start] = f"B-{kind}"
        else:
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start] = f"B-{kind}"
                tags[end - 1] = f"E-{kind}"
        previous_end, previous_kind = end, kind
    return tags


def convert(tags: list[str], source: str, target: str) -> list[str]:
    """Converts a sentence's tags from scheme `source` to scheme `target`."""
    _check_scheme(source)
    _check_scheme(target)
    if source == target or "none" in (source, target):
        if source != target:
            raise ValueError(f"cannot convert tags from {source!r} to {target!r}")
        return list(tags)
    return _write(_spans(tags, source), len(tags), target)


class TagVocabulary:
    """Tag strings and their ids; `O` (when present) is id 0.

    Args:
        tags: list[str]. The tags, in id order.
        scheme: str. The scheme of the tags, one of `SCHEMES`.

    Example:
    >>> vocabulary = TagVocabulary.build([["B-PER", "O"]], scheme="bioes")
    >>> vocabulary.tags
    ['O', 'B-PER', 'E-PER', 'I-PER', 'S-PER']
    """

    def __init__(self, tags: list[str], scheme: str = "none"):
        _check_scheme(scheme)
        if not tags:
            raise ValueError("a tag vocabulary needs at least one tag, got none")
        if len(set(tags)) != len(tags):
            raise ValueError(f"tags must be unique, got {tags}")
        self.tags = list(tags)
        self.scheme = scheme
        self.ids = {tag: index for index, tag in enumerate(self.tags)}

    @classmethod
    def build(cls, sentences, scheme: str) -> TagVocabulary:
        """Collects the tags of `sentences`; entity schemes get every prefix of
        each type seen, so that a test set's `S-X` has an id even when the
        training set only has `B-X`."""
        _check_scheme(scheme)
        seen = {tag for tags in sentences for tag in tags}
        if scheme == "none":
            return cls(sorted(seen), scheme)
        kinds = sorted({split_tag(tag)[1] for tag in seen if tag != OUTSIDE})
        prefixes = PREFIXES[scheme]
        tags = [OUTSIDE] + [f"{p}-{kind}" for kind in kinds for p in sorted(prefixes)]
        return cls(tags, scheme)

    def __len__(self) -> int:
        return len(self.tags)

    def get_config(self) -> dict:
        return {"tags": self.tags, "scheme": self.scheme}

    @classmethod
    def from_config(cls, config: dict) -> TagVocabulary:
        return cls(**config)

    def encode(self, tags: list[str], default: int = 0) -> list[int]:
        """Ids of `tags`; tags the vocabulary lacks get `default`."""
        return [self.ids.get(tag, default) for tag in tags]

    def decode(self, ids) -> list[str]:
        return [self.tags[int(index)] for index in ids]


def convert_sentences(sentences, source: str, target: str) -> list[list[str]]:
    """`convert` over a list of tag sequences (copies when the schemes match)."""
    if source == target:
        return [list(tags) for tags in sentences]
    return [convert(tags, source, target) for tags in sentences]


def allowed_transitions(tags: list[str], scheme: str):
    """Which tag may follow which in `scheme`, and which may start or end.

    Returns:
        `(transitions, start, end)`: bool arrays `(num_tags, num_tags)` (row:
        previous tag, column: next tag), `(num_tags,)` and `(num_tags,)`. All
        True for the `none` and `iob1` schemes.
    """
    _check_scheme(scheme)
    size = len(tags)
    transitions = np.ones((size, size), dtype=bool)
    start = np.ones(size, dtype=bool)
    end = np.ones(size, dtype=bool)
    if scheme in ("none", "iob1"):
        return transitions, start, end
    parts = [split_tag(tag) for tag in tags]
    for j, (prefix, kind) in enumerate(parts):
        inside = prefix in ("I", "E")
        start[j] = not inside
        if scheme == "bioes":
            end[j] = prefix not in ("B", "I")
        for i, (previous_prefix, previous_kind) in enumerate(parts):
            open_entity = previous_prefix in ("B", "I")
            if inside:
                allowed = open_entity and previous_kind == kind
            else:
                allowed = scheme == "iob2" or not open_entity
            transitions[i, j] = allowed
    return transitions, start, end
