"""Rows in, result rows out: the files ``halo batch`` reads and writes.

Inputs: ``.jsonl`` (one JSON object per line), ``.csv`` (a header row; values stay strings) or
``.parquet``. Results: ``.jsonl`` or ``.parquet``, one row per input in input order with
``key``, ``status`` (``done`` / ``failed``), ``error`` and ``output`` (JSON text, through the
journal's codecs, so framework objects keep their own serialized form).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from halo_core.errors import ConfigError
from halo_core.journal.codec import Unjournalable, encode

INPUTS = (".jsonl", ".csv", ".parquet")
OUTPUTS = (".jsonl", ".parquet")


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ConfigError(f"{what} {path}: use a {' / '.join(allowed)} file")
    return suffix


def check_paths(inputs: Path, output: Path) -> None:
    """Fail fast on file types ``halo batch`` cannot read or write, and a missing input."""
    _suffix(inputs, INPUTS, "--input")
    _suffix(output, OUTPUTS, "--output")
    if not inputs.is_file():
        raise ConfigError(f"--input {inputs}: no such file")


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ConfigError("Parquet files need pyarrow: pip install 'halo-batch[batch]'") from e
    return pq


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of ``path`` as a dict."""
    suffix = _suffix(path, INPUTS, "input")
    if suffix == ".parquet":
        return list(_parquet().read_table(path).to_pylist())
    with path.open(newline="", encoding="utf-8") as f:
        if suffix == ".csv":
            return [dict(r) for r in csv.DictReader(f)]
        rows = []
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{n}: not a JSON line ({e.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: a row must be a JSON object")
            rows.append(row)
        return rows


def row_keys(rows: Sequence[dict[str, Any]], column: str | None) -> list[str] | None:
    """The instance keys from ``column`` (None: position and input hash)."""
    if column is None:
        return None
    missing = [i for i, r in enumerate(rows) if r.get(column) is None]
    if missing:
        raise ConfigError(f"--key {column}: row {missing[0]} has no {column!r} value")
    return [str(r[column]) for r in rows]


def result_rows(keys: Sequence[str], results: Sequence[Any]) -> list[dict[str, Any]]:
    """One result row per input: key, status, error, output (JSON text)."""
    out = []
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, BaseException):
            error = f"{type(result).__name__}: {result}"
            out.append({"key": key, "status": "failed", "error": error, "output": None})
            continue
        try:
            text = encode(result)
        except Unjournalable:
            text = json.dumps(repr(result))
        out.append({"key": key, "status": "done", "error": None, "output": text})
    return out


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write result rows (atomically: a temporary file renamed over ``path``)."""
    suffix = _suffix(path, OUTPUTS, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".parquet":
        import pyarrow as pa

        _parquet().write_table(pa.Table.from_pylist(list(rows)), tmp)
    else:
        with tmp.open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
