"""The suite's real tools: read-only SQL on the benchmark DuckDB file, canonical TPC-H queries, and
GETs against the simulated-latency HTTP service. Plain functions; workloads wrap them in tools.

Call :func:`configure` once per process (the database path and the HTTP service's base URL),
then call :func:`sql`, :func:`tpch` and :func:`http_get` from any thread.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "TPCH_DEFAULTS",
    "TPCH_QUERIES",
    "Settings",
    "configure",
    "format_rows",
    "http_get",
    "http_url_for",
    "query_rows",
    "settings",
    "sql",
    "tpch",
    "tpch_params",
]

MAX_ROWS = 20
MAX_CHARS = 1200
MAX_CELL_CHARS = 800
_FETCH_LIMIT = 100_000
HTTP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Settings:
    """Process-wide tool settings: the DuckDB file and the HTTP service's base URL."""

    db_path: Path | None = None
    http_url: str | None = None


_settings = Settings()
_settings_lock = threading.Lock()


def configure(db_path: str | Path, http_url: str | None) -> None:
    """Set the DuckDB file :func:`sql` / :func:`tpch` read and :func:`http_get`'s base URL."""
    global _settings
    url = http_url.rstrip("/") if http_url else None
    with _settings_lock:
        _settings = Settings(db_path=Path(db_path).expanduser().resolve(), http_url=url)


def settings() -> Settings:
    """The current process-wide settings."""
    return _settings


# -- DuckDB access: one read-only base connection per file, one cursor per thread ---------------

_bases: dict[Path, duckdb.DuckDBPyConnection] = {}
_bases_lock = threading.Lock()
_local = threading.local()


def _cursor(db_path: Path) -> duckdb.DuckDBPyConnection:
    """This thread's read-only connection to ``db_path`` (DuckDB connections are not
    thread-safe; cursors of one base connection share its database instance)."""
    cursors: dict[Path, duckdb.DuckDBPyConnection] | None = getattr(_local, "cursors", None)
    if cursors is None:
        cursors = _local.cursors = {}
    cur = cursors.get(db_path)
    if cur is None:
        with _bases_lock:
            base = _bases.get(db_path)
            if base is None:
                if not db_path.exists():
                    raise FileNotFoundError(
                        f"benchmark database {db_path} does not exist "
                        "(build it with benchmarks.suite.data.build_database)"
                    )
                base = _bases[db_path] = duckdb.connect(str(db_path), read_only=True)
            cur = cursors[db_path] = base.cursor()
    return cur


_LEADING = re.compile(r"^(?:\s+|\(|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def _check_read_only(query: str) -> None:
    """Raise ValueError unless ``query`` is exactly one SELECT / WITH statement."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise ValueError(f"cannot parse SQL: {e}") from e
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    head = _LEADING.sub("", query)[:4].upper()
    if statements[0].type != duckdb.StatementType.SELECT or head not in ("SELE", "WITH"):
        raise ValueError("only read-only SELECT / WITH queries are allowed")


def query_rows(
    query: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    *,
    db_path: str | Path | None = None,
    limit: int = _FETCH_LIMIT,
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """Run a read-only query; return (column names, up to ``limit`` rows, more rows exist).

    ``db_path`` defaults to the configured database."""
    _check_read_only(query)
    if db_path is None:
        path = _settings.db_path
        if path is None:
            raise RuntimeError("benchmarks.suite.tools is not configured: call configure() first")
    else:
        path = Path(db_path).expanduser().resolve()
    cur = _cursor(path)
    cur.execute(query, params if isinstance(params, Mapping) else list(params))
    columns = [d[0] for d in cur.description or []]
    rows = cur.fetchmany(limit + 1)
    more = len(rows) > limit
    return columns, rows[:limit], more


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    s = " ".join(str(v).split())
    return s if len(s) <= MAX_CELL_CHARS else s[: MAX_CELL_CHARS - 1] + "…"


def format_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    total: int | str | None = None,
    max_rows: int = MAX_ROWS,
    max_chars: int = MAX_CHARS,
) -> str:
    """Rows as compact text: a header line, then up to ``max_rows`` lines ``a | b | c``; capped at
    ``max_chars`` characters with a trailing ``... (N rows)`` note when anything was cut."""
    n = total if total is not None else len(rows)
    lines = [" | ".join(columns)]
    if not rows:
        return lines[0] + "\n(0 rows)"
    note = f"... ({n} rows)"
    cut = len(rows) > max_rows or (total is not None and str(total) != str(len(rows)))
    size = len(lines[0])
    for row in rows[:max_rows]:
        line = " | ".join(_cell(v) for v in row)
        if size + 1 + len(line) + 1 + len(note) > max_chars:
            cut = True
            if len(lines) == 1:  # not even one row fits: show the start of the first one
                room = max_chars - size - len(note) - 3
                lines.append(line[: max(room, 0)] + "…")
            break
        lines.append(line)
        size += 1 + len(line)
    if cut:
        lines.append(note)
    return "\n".join(lines)


def sql(
    query: str, params: Sequence[Any] | Mapping[str, Any] = (), *, max_rows: int = MAX_ROWS
) -> str:
    """Run a read-only SELECT / WITH query on the configured DuckDB file; rows as compact text.

    ``params`` binds ``?`` placeholders (a sequence) or ``$name`` ones (a mapping). Anything but
    a single SELECT / WITH statement raises ValueError."""
    columns, rows, more = query_rows(query, params)
    total: int | str = f"{len(rows)}+" if more else len(rows)
    return format_rows(columns, rows, total=total, max_rows=max_rows)


# -- TPC-H ---------------------------------------------------------------------------------------

# The spec's substitution parameters with their validation values (TPC-H 2.x, clause 2.4).
TPCH_DEFAULTS: dict[int, dict[str, Any]] = {
    1: {"DELTA": 90},
    2: {"SIZE": 15, "TYPE": "BRASS", "REGION": "EUROPE"},
    3: {"SEGMENT": "BUILDING", "DATE": "1995-03-15"},
    5: {"REGION": "ASIA", "DATE": "1994-01-01"},
    6: {"DATE": "1994-01-01", "DISCOUNT": 0.06, "QUANTITY": 24},
    9: {"COLOR": "green"},
    12: {"SHIPMODE1": "MAIL", "SHIPMODE2": "SHIP", "DATE": "1994-01-01"},
    14: {"DATE": "1995-09-01"},
    15: {"DATE": "1996-01-01"},
}

# Canonical query text adapted to DuckDB; ``$NAME`` are the substitution parameters.
_TPCH_TEXT: dict[int, str] = {
    1: """
SELECT l_returnflag, l_linestatus,
       sum(l_quantity) AS sum_qty,
       sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price,
       avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM lineitem
WHERE l_shipdate <= DATE '1998-12-01' - to_days(CAST($DELTA AS INTEGER))
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus""",
    2: """
SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
FROM part, supplier, partsupp, nation, region
WHERE p_partkey = ps_partkey
  AND s_suppkey = ps_suppkey
  AND p_size = CAST($SIZE AS INTEGER)
  AND p_type LIKE '%' || $TYPE
  AND s_nationkey = n_nationkey
  AND n_regionkey = r_regionkey
  AND r_name = $REGION
  AND ps_supplycost = (
      SELECT min(ps_supplycost)
      FROM partsupp, supplier, nation, region
      WHERE p_partkey = ps_partkey
        AND s_suppkey = ps_suppkey
        AND s_nationkey = n_nationkey
        AND n_regionkey = r_regionkey
        AND r_name = $REGION)
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
LIMIT 100""",
    3: """
SELECT l_orderkey,
       sum(l_extendedprice * (1 - l_discount)) AS revenue,
       o_orderdate, o_shippriority
FROM customer, orders, lineitem
WHERE c_mktsegment = $SEGMENT
  AND c_custkey = o_custkey
  AND l_orderkey = o_orderkey
  AND o_orderdate < CAST($DATE AS DATE)
  AND l_shipdate > CAST($DATE AS DATE)
GROUP BY l_orderkey, o_orderdate, o_shippriority
ORDER BY revenue DESC, o_orderdate
LIMIT 10""",
    5: """
SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM customer, orders, lineitem, supplier, nation, region
WHERE c_custkey = o_custkey
  AND l_orderkey = o_orderkey
  AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey
  AND s_nationkey = n_nationkey
  AND n_regionkey = r_regionkey
  AND r_name = $REGION
  AND o_orderdate >= CAST($DATE AS DATE)
  AND o_orderdate < CAST($DATE AS DATE) + INTERVAL 1 YEAR
GROUP BY n_name
ORDER BY revenue DESC""",
    6: """
SELECT sum(l_extendedprice * l_discount) AS revenue
FROM lineitem
WHERE l_shipdate >= CAST($DATE AS DATE)
  AND l_shipdate < CAST($DATE AS DATE) + INTERVAL 1 YEAR
  AND l_discount BETWEEN CAST($DISCOUNT AS DECIMAL(15, 2)) - 0.01
                     AND CAST($DISCOUNT AS DECIMAL(15, 2)) + 0.01
  AND l_quantity < CAST($QUANTITY AS DECIMAL(15, 2))""",
    9: """
SELECT nation, o_year, sum(amount) AS sum_profit
FROM (
    SELECT n_name AS nation,
           extract(year FROM o_orderdate) AS o_year,
           l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount
    FROM part, supplier, lineitem, partsupp, orders, nation
    WHERE s_suppkey = l_suppkey
      AND ps_suppkey = l_suppkey
      AND ps_partkey = l_partkey
      AND p_partkey = l_partkey
      AND o_orderkey = l_orderkey
      AND s_nationkey = n_nationkey
      AND p_name LIKE '%' || $COLOR || '%') AS profit
GROUP BY nation, o_year
ORDER BY nation, o_year DESC""",
    12: """
SELECT l_shipmode,
       sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH'
                THEN 1 ELSE 0 END) AS high_line_count,
       sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH'
                THEN 1 ELSE 0 END) AS low_line_count
FROM orders, lineitem
WHERE o_orderkey = l_orderkey
  AND l_shipmode IN ($SHIPMODE1, $SHIPMODE2)
  AND l_commitdate < l_receiptdate
  AND l_shipdate < l_commitdate
  AND l_receiptdate >= CAST($DATE AS DATE)
  AND l_receiptdate < CAST($DATE AS DATE) + INTERVAL 1 YEAR
GROUP BY l_shipmode
ORDER BY l_shipmode""",
    14: """
SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%'
                         THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
       / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM lineitem, part
WHERE l_partkey = p_partkey
  AND l_shipdate >= CAST($DATE AS DATE)
  AND l_shipdate < CAST($DATE AS DATE) + INTERVAL 1 MONTH""",
    15: """
WITH revenue0 AS (
    SELECT l_suppkey AS supplier_no,
           sum(l_extendedprice * (1 - l_discount)) AS total_revenue
    FROM lineitem
    WHERE l_shipdate >= CAST($DATE AS DATE)
      AND l_shipdate < CAST($DATE AS DATE) + INTERVAL 3 MONTH
    GROUP BY l_suppkey)
SELECT s_suppkey, s_name, s_address, s_phone, total_revenue
FROM supplier, revenue0
WHERE s_suppkey = supplier_no
  AND total_revenue = (SELECT max(total_revenue) FROM revenue0)
ORDER BY s_suppkey""",
}
TPCH_QUERIES: dict[int, str] = {q: text.strip() for q, text in _TPCH_TEXT.items()}


def tpch_params(q: int, **params: Any) -> dict[str, Any]:
    """Query ``q``'s substitution parameters: the spec's validation values, overridden by
    ``params`` (names case-insensitive: ``date=`` or ``DATE=``)."""
    if q not in TPCH_QUERIES:
        raise ValueError(f"TPC-H query {q} is not in the suite (have {sorted(TPCH_QUERIES)})")
    values = dict(TPCH_DEFAULTS[q])
    for name, value in params.items():
        key = name.upper()
        if key not in values:
            raise ValueError(
                f"TPC-H Q{q} has no parameter {name!r} (parameters: {', '.join(values)})"
            )
        values[key] = value.isoformat() if isinstance(value, dt.date) else value
    return values


def tpch(q: int, **params: Any) -> str:
    """Run canonical TPC-H query ``q`` (1, 2, 3, 5, 6, 9, 12, 14 or 15) with the spec's
    substitution parameters (defaults: the validation values in :data:`TPCH_DEFAULTS`)
    overridden by ``params``; rows formatted like :func:`sql`."""
    values = tpch_params(q, **params)
    return sql(TPCH_QUERIES[q], values)


# -- HTTP ----------------------------------------------------------------------------------------


def http_url_for(endpoint: str, **params: Any) -> str:
    """The URL :func:`http_get` requests: ``{http_url}/{endpoint}?{sorted, urlencoded params}``."""
    base = _settings.http_url
    if not base:
        raise RuntimeError(
            "benchmarks.suite.tools has no HTTP service: call configure(db_path, http_url) with "
            "the URL an HTTPService returned"
        )
    query = urllib.parse.urlencode(sorted((k, str(v)) for k, v in params.items()))
    return f"{base}/{endpoint.strip('/')}" + (f"?{query}" if query else "")


def http_get(endpoint: str, **params: Any) -> str:
    """GET ``{http_url}/{endpoint}?{params}`` from the configured HTTP service; the response
    text. An HTTP error status or an unreachable service raises RuntimeError."""
    url = http_url_for(endpoint, **params)
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            body: bytes = resp.read()
            return body.decode("utf-8")
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace").strip()
        raise RuntimeError(f"GET {url} failed: HTTP {e.code}: {detail}") from e
    except urllib.error.URLError as e:
        raise RuntimeError(f"GET {url} failed: {e.reason} (is the HTTPService running?)") from e
