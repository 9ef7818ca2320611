"""A dict whose keys are also attributes, as the reference's option trees use."""

from typing import Any


class EasyDict(dict):
    """dict with attribute access: ``d.key`` is ``d['key']``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]
