"""Small helpers over iterables."""

from __future__ import annotations


def batches(items, size: int):
    """Yields lists of up to `size` consecutive items."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
