"""Small helpers over iterables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


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


def sorted_map(function, items, size: int, key, window: int, workers: int = 1):
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
        workers: int. Calls of `function` run at once, on threads (for a
            function that releases the GIL, as TensorFlow's calls do).
    """
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        for chunk in batches(items, window):
            order = sorted(range(len(chunk)), key=lambda index: key(chunk[index]))
            groups = [
                order[start : start + size] for start in range(0, len(order), size)
            ]
            calls = [[chunk[index] for index in group] for group in groups]
            outputs = pool.map(function, calls) if pool else map(function, calls)
            results = [None] * len(chunk)
            for group, output in zip(groups, outputs, strict=True):
                if len(output) != len(group):
                    raise ValueError(f"{len(output)} results for {len(group)} items")
                for index, result in zip(group, output, strict=True):
                    results[index] = result
            yield from results
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
