"""One small registry helper used alike for presets, models, metrics and recipes."""

from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """Maps names to objects; registering a name twice is a programming error."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` works as a decorator."""
        if obj is None:
            return lambda fn: self.register(name, fn)
        if name in self._entries:
            raise KeyError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> Any:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.kind} '{name}' (known: {known})") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._entries.items())

    def lookup(self, name: str, error: Callable[[str], Exception]) -> Any:
        """Like ``get`` but raises ``error(message)`` so callers can surface a UserError."""
        try:
            return self.get(name)
        except KeyError as exc:
            raise error(str(exc.args[0])) from None
