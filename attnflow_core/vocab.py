"""The machinery of the settings vocabularies: a registry of named choices, each entry defined once.

Every vocabulary of the project (flow methods in ``methods``, attention measures in ``measures``, special-token modes
in ``flows``, units in ``encoding``, saliency methods in ``saliency``) is one ``Registry`` of ``Choice`` entries. An
entry *is* its key (a ``str``: it compares, hashes, prints and serialises to JSON as the key that URLs, the CLI and
files write) and carries everything said about it: the widget label, the wording of figure titles, a short name, the
help text, and in subclasses what the entry needs and does (its functions). Widgets, titles, CLI ``choices=``, URL
parsing and validation read the registry, so an unknown key is one ``SettingsError`` naming the choices, never a
``KeyError`` deep inside the computation.

Imports nothing from the rest of the package but ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Self, TypeVar

from attnflow_core.errors import SettingsError

__all__ = ["Choice", "Registry", "SettingsError"]


_REQUIRED = object()


class Choice(str):
    """One entry of a vocabulary: the string ``key`` itself, with its words.

    Built as ``Entry(key, label=..., ...)``: ``label`` the widget's option label; ``phrase`` how figure titles and
    captions name it ("attention weights"); ``short`` a few words for tables and sentences; ``help`` one or two
    sentences for widget and CLI help. A subclass declares its own fields the same way (annotated class attributes;
    a default makes one optional). Entries are read-only; equality and hashing are the key's
    (``Choice("norm", label="…") == "norm"``); pickling and copying give the registered entry back. (Not a
    dataclass, so ``dataclasses.asdict`` of settings keeps an entry as its key.)
    """

    label: str
    phrase: str = ""
    short: str = ""
    help: str = ""

    def __new__(cls, key: str, **values: Any) -> Self:
        entry = super().__new__(cls, key)
        declared = _fields(cls)
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
        for name, default in declared.items():
            if name not in values and default is _REQUIRED:
                raise TypeError(f"{cls.__name__}({key!r}) needs {name}")
            object.__setattr__(entry, name, values.get(name, default))
        return entry

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} {str(self)!r} is read-only")

    @property
    def key(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_registered, (type(self), str(self)))


def _fields(cls: type) -> dict[str, Any]:
    """The fields an entry class declares (annotated class attributes of it and its ``Choice`` bases), in order,
    with their defaults (``_REQUIRED`` where none)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Choice)):
            continue
        for name in klass.__dict__.get("__annotations__", {}):
            out[name] = klass.__dict__.get(name, _REQUIRED)
    return out


C = TypeVar("C", bound=Choice)
#: Each entry class's registry (for unpickling an entry: its module defines the registry on import).
_REGISTRY_OF: dict[type, Registry[Any]] = {}


def _registered(cls: type, key: str) -> Choice:
    return _REGISTRY_OF[cls].get(key)


class Registry(Generic[C]):
    """The entries of one vocabulary, in the order they are offered; the first is the default unless ``default``
    names another.

    ``get`` is the one validation of a name (a ``SettingsError`` naming the choices); ``find`` is its lenient form
    for untrusted input (a URL value), giving None instead of raising.
    """

    def __init__(self, name: str, entries: Iterable[C], default: str | None = None) -> None:
        self.name = name
        self._entries: dict[str, C] = {}
        for entry in entries:
            self.register(entry)
        if not self._entries:
            raise ValueError(f"the {name} vocabulary needs at least one entry")
        self._default = str(default) if default is not None else next(iter(self._entries))
        self.get(self._default)
        _REGISTRY_OF[type(next(iter(self._entries.values())))] = self

    def register(self, entry: C) -> C:
        """Add ``entry`` (a plug-in measure, a test's fake one); a ValueError if its key is taken."""
        key = str(entry)
        if key in self._entries:
            raise ValueError(f"the {self.name} {key!r} is already registered")
        self._entries[key] = entry
        return entry

    def unregister(self, key: str) -> None:
        """Remove an entry (not the default)."""
        if str(key) == self._default:
            raise ValueError(f"the default {self.name} {key!r} cannot be removed")
        self._entries.pop(str(key), None)

    @contextmanager
    def registered(self, entry: C) -> Iterator[C]:
        """``entry`` is registered inside the block and removed after it (tests, experiments)."""
        self.register(entry)
        try:
            yield entry
        finally:
            self.unregister(entry)

    def get(self, value: object, what: str | None = None) -> C:
        """The entry named ``value`` (a key or an entry); otherwise a SettingsError "<what> must be one of ..."."""
        found = self.find(value)
        if found is None:
            raise SettingsError(f"{what or self.name} must be one of {self.keys()}; got {value!r}")
        return found

    def find(self, value: object) -> C | None:
        """The entry named ``value``, or None (for untrusted input that falls back to a default)."""
        return self._entries.get(value) if isinstance(value, str) else None

    @property
    def default(self) -> C:
        return self._entries[self._default]

    def keys(self) -> tuple[str, ...]:
        """The keys in order (CLI ``choices=``, messages)."""
        return tuple(self._entries)

    def __iter__(self) -> Iterator[C]:
        return iter(tuple(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, value: object) -> bool:
        return self.find(value) is not None

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {list(self._entries)})"
