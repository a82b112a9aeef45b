"""One small generic registry: name -> lazily imported "module:attr".

Nothing is imported until a name is resolved, so `bench --help` and `bench ls` stay fast and
listing never pulls in torch.

Parametrised entries: a name registered as "prefix:PLACEHOLDER" (e.g. "onnx:FILE") stands for
every "prefix:ARG" with a non-empty ARG; its target is a function of ARG returning the entry
(`get("onnx:/m.onnx")` = target("/m.onnx")). `names()` lists plain names only; `patterns()`
the parametrised ones.
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

    def __init__(self, kind: str, name: str, known: list[str],
                 hints: list[str] | None = None):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r}.{did_you_mean(name, hints or known)} "
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
        return sorted(n for n in self._targets if ":" not in n)

    def patterns(self) -> list[str]:
        """Parametrised entries, e.g. "onnx:FILE"."""
        return sorted(n for n in self._targets if ":" in n)

    def _pattern(self, name: object) -> str | None:
        prefix, sep, arg = str(name).partition(":")
        if not (sep and arg):
            return None
        return next((p for p in self.patterns() if p.partition(":")[0] == prefix), None)

    def argument(self, name: str) -> str | None:
        """ARG of a parametrised name "prefix:ARG"; None for a plain name."""
        return str(name).partition(":")[2] if self._pattern(name) else None

    def _key(self, name: str) -> str:
        return self.check(name) if ":" not in str(name) else self._pattern(name)  # type: ignore

    def description(self, name: str) -> str:
        return self._descriptions.get(self._key(name), "")

    def target(self, name: str) -> str:
        return self._targets[self._key(name)]

    def check(self, name: str) -> str:
        if name in self or (":" in str(name) and self._pattern(name)):
            return name
        # "prefix:ARG" with an unknown prefix: suggest the patterns with this ARG filled in
        arg = str(name).partition(":")[2]
        hints = self.names() + [p.partition(":")[0] + ":" + (arg or p.partition(":")[2])
                                for p in self.patterns()]
        raise UnknownNameError(self.kind, name, self.names() + self.patterns(), hints)

    def get(self, name: str) -> Any:
        target = load_target(self.target(name))
        return target(self.argument(name)) if self._pattern(name) else target

    def __contains__(self, name: object) -> bool:
        return (name in self._targets and ":" not in str(name)) or self._pattern(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)


class LookedUpOnce:
    """A view of a `Registry` whose `get` resolves each name once (some entries do work to
    resolve, e.g. a parametrised one reading its file); everything else is the registry's."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._got: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._got:
            self._got[name] = self._registry.get(name)
        return self._got[name]

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._registry, attr)
