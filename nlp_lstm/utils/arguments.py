"""Checks of the arguments that layers and models are built with: each raises
a `ValueError` that names the argument and the value it got."""

from __future__ import annotations


def check_positive_int(name: str, value) -> None:
    """`value` is an int of at least 1."""
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")


def check_rate(name: str, value) -> None:
    """`value` is a dropout rate: in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
