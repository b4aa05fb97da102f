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



def sorted_map(function, items, size: int, key, window: int):
    """Yields `function`'s result for each item, in input order, calling
    `function` on lists of up to `size` items of similar `key`.

    The items are read `window` at a time; each window is sorted by `key` (a
    length, so that a batch wastes little padding), cut into lists of `size`,
    and its results are yielded once the whole window is done: a stream's
    first results come before its end.

    Args:
        function: callable, a list of items -> a sequence of as many results.
        items: iterable.
        size: int. Items per call.
        key: callable, item -> sort key.
        window: int. Items sorted together (a multiple of `size` wastes none).
    """
    for chunk in batches(items, window):
        order = sorted(range(len(chunk)), key=lambda index: key(chunk[index]))
        results = [None] * len(chunk)
        for start in range(0, len(order), size):
            positions = order[start : start + size]
            outputs = function([chunk[index] for index in positions])
            if len(outputs) != len(positions):
                raise ValueError(f"{len(outputs)} results for {len(positions)} items")
            for index, output in zip(positions, outputs, strict=True):
                results[index] = output
        yield from results
