"""A bounded map for what a long-lived session keeps per key (memo results, warm prefixes, each
tool's and plan node's averages), so its memory stays flat however many calls it serves."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: Entries kept of a statistic per tool or per plan node: far more than a workflow has; the bound
#: only stops keys that name a call rather than code (a tool known by its repr, e.g. a partial).
NAMED_MAX = 4096


class LRUDict(OrderedDict[K, V]):
    """An ordered dict of at most ``max_entries`` entries (``None``: unbounded). Setting a key
    makes it the newest and drops the oldest past the bound; a reader that counts as a use
    calls :meth:`move_to_end`."""

    def __init__(self, max_entries: int | None = None) -> None:
        super().__init__()
        self.max_entries = max_entries

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if self.max_entries is not None and len(self) > self.max_entries:
            self.popitem(last=False)
