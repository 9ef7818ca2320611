"""Options that several commands share, declared once as a list and applied as one decorator."""

from collections.abc import Callable


def with_options(function: Callable, options: list[Callable]) -> Callable:
    """``function`` decorated by every click option of ``options``, which --help then lists in that order
    (click shows the decorator nearest the function first, so they are applied last to first)."""
    for option in reversed(options):
        function = option(function)
    return function
