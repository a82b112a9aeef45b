"""One small generic registry: name -> lazily imported "module:attr".

Nothing is imported until a name is resolved, so `bench --help` and `bench ls` stay fast and
listing never pulls in torch.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str:
    """" Did you mean 'x', 'y'?" for the names in `known` close to `name`, else "".

    The one did-you-mean of the project (registries, config keys, CLI choices); the leading
    space lets callers append it to a sentence: f"unknown model {name!r}.{did_you_mean(...)}".
    """
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=n, cutoff=cutoff)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def load_target(target: str) -> Any:
    """Import "package.module:attr" (or a bare "package.module") and return the object."""
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class UnknownNameError(KeyError):
    """Raised for a name a registry does not hold; the message carries a did-you-mean."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r}.{did_you_mean(name, known)} "
                         f"Known: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


class Registry(Generic[T]):
    """Maps names to lazy "package.module:attr" targets, with human descriptions."""

    def __init__(self, kind: str, entries: dict[str, str] | None = None,
                 descriptions: dict[str, str] | None = None):
        self.kind = kind
        self._targets: dict[str, str] = dict(entries or {})
        self._descriptions: dict[str, str] = dict(descriptions or {})

    def register(self, name: str, target: str, description: str = "") -> None:
        if name in self._targets:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._targets[name] = target
        self._descriptions[name] = description

    def names(self) -> list[str]:
        return sorted(self._targets)

    def description(self, name: str) -> str:
        self.check(name)
        return self._descriptions.get(name, "")

    def target(self, name: str) -> str:
        self.check(name)
        return self._targets[name]

    def check(self, name: str) -> str:
        if name not in self._targets:
            raise UnknownNameError(self.kind, name, self.names())
        return name

    def get(self, name: str) -> Any:
        return load_target(self.target(name))

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)
