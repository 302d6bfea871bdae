"""The benchmark suite: the DuckDB build, read-only SQL, TPC-H queries, the HTTP service."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb", reason="the bench extra (duckdb, tpchgen-cli) is missing")

from benchmarks.suite import data, tools  # noqa: E402
from benchmarks.suite.http_service import HTTPService  # noqa: E402


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small benchmark database (TPC-H SF 0.01: at SF 0.001 Q2 and Q5 find no rows)."""
    t0 = time.perf_counter()
    path = data.build_database(tmp_path_factory.mktemp("bench") / "bench.duckdb", tpch_scale=0.01)
    assert time.perf_counter() - t0 < 60
    return path


@pytest.fixture
def configured(db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tools pointed at the module's database (no HTTP service), restored afterwards."""
    monkeypatch.setattr(tools, "_settings", tools.Settings(db_path=db, http_url=None))
    return db


@pytest.fixture(scope="module")
def service(db: Path) -> Iterator[str]:
    """A no-delay HTTP service over the module's database."""
    with HTTPService(scale=0, db_path=db) as url:
        yield url


def _count(path: Path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def _table_hash(path: Path, query: str) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return hashlib.sha256(repr(con.execute(query).fetchall()).encode()).hexdigest()
    finally:
        con.close()


# -- the database --------------------------------------------------------------------------------

EXPECTED_ROWS = {
    "movies": (2000, 2000),
    "people": (3000, 3000),
    "crew": (10_000, 30_000),
    "aka_titles": (1000, 6000),
    "keywords": (50, 500),
    "movie_keywords": (5000, 20_000),
    "articles": (2000, 2000),
    "article_links": (4000, 20_000),
    "region": (5, 5),
    "nation": (25, 25),
    "supplier": (100, 100),
    "customer": (1500, 1500),
    "part": (2000, 2000),
    "partsupp": (8000, 8000),
    "orders": (15_000, 15_000),
    "lineitem": (55_000, 65_000),
}


@pytest.mark.parametrize("table", sorted(EXPECTED_ROWS))
def test_tables_have_expected_row_counts(db: Path, table: str) -> None:
    low, high = EXPECTED_ROWS[table]
    assert low <= _count(db, table) <= high


def test_schemas_match_the_contract(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name, schema in {**data.IMDB_TABLES, **data.WIKI_TABLES}.items():
            cols = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()]
            assert cols == [tuple(c.split()) for c in schema.split(", ")]
        lineitem = [r[0] for r in con.execute("DESCRIBE lineitem").fetchall()]
    finally:
        con.close()
    assert lineitem[:4] == ["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber"]


def test_build_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    a = data.build_database(tmp_path / "a.duckdb", tpch_scale=0, seed=7)
    b = data.build_database(tmp_path / "b.duckdb", tpch_scale=0, seed=7)
    for query in ("SELECT * FROM movies ORDER BY id", "SELECT * FROM articles ORDER BY id"):
        assert _table_hash(a, query) == _table_hash(b, query)
    crew = "SELECT * FROM crew ORDER BY ALL"
    assert _table_hash(a, crew) == _table_hash(b, crew)

    mtime = a.stat().st_mtime_ns
    assert data.build_database(a, tpch_scale=0, seed=7) == a
    assert a.stat().st_mtime_ns == mtime  # same recipe: not rebuilt

    data.build_database(a, tpch_scale=0, seed=8)  # another recipe: rebuilt in place
    movies = "SELECT * FROM movies ORDER BY id"
    assert _table_hash(a, movies) != _table_hash(b, movies)


# -- sql / tpch ----------------------------------------------------------------------------------


def test_sql_formats_rows_compactly(configured: Path) -> None:
    out = tools.sql("SELECT id, title, rating FROM movies WHERE id <= ? ORDER BY id", [3])
    lines = out.splitlines()
    assert lines[0] == "id | title | rating"
    assert len(lines) == 4 and lines[1].startswith("1 | ")
    assert lines[1].rsplit(" | ", 1)[1].count(".") == 1
    assert len(lines[1].rsplit(" | ", 1)[1].split(".")[1]) == 2  # floats: 2 decimals

    many = tools.sql("SELECT id, title FROM movies ORDER BY id")
    assert many.splitlines()[-1] == "... (2000 rows)"
    assert len(many.splitlines()) == 1 + tools.MAX_ROWS + 1
    wide = tools.sql("SELECT title, body FROM articles ORDER BY id")
    assert len(wide) <= tools.MAX_CHARS and wide.endswith("... (2000 rows)")
    assert tools.sql("SELECT * FROM movies WHERE id < 0").endswith("(0 rows)")
    named = tools.sql("SELECT title FROM movies WHERE id = $id", {"id": 1})
    assert named.splitlines()[1] == lines[1].split(" | ")[1]


@pytest.mark.parametrize(
    "query",
    [
        "DROP TABLE movies",
        "INSERT INTO movies VALUES (1, 'x', 2000, 'Drama', 1.0, 1)",
        "UPDATE movies SET year = 1",
        "COPY movies TO 'x.csv'",
        "SELECT 1; DROP TABLE movies",
        "PRAGMA version",
        "not sql at all",
    ],
)
def test_sql_rejects_anything_but_one_select(configured: Path, query: str) -> None:
    with pytest.raises(ValueError):
        tools.sql(query)


def test_sql_needs_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "_settings", tools.Settings())
    with pytest.raises(RuntimeError, match="configure"):
        tools.sql("SELECT 1")
    with pytest.raises(RuntimeError, match="configure"):
        tools.http_get("movie", title="x")


@pytest.mark.parametrize("q", sorted(tools.TPCH_QUERIES))
def test_tpch_queries_run(configured: Path, q: int) -> None:
    lines = tools.tpch(q).splitlines()
    assert " | " in lines[0] or q in (6, 14)  # Q6 / Q14: one column
    assert len(lines) >= 2 and lines[1] != "(0 rows)"


def test_tpch_parameters_override_the_defaults(configured: Path) -> None:
    assert tools.tpch(6) == tools.tpch(6, DISCOUNT=0.06, date="1994-01-01")
    assert tools.tpch(6, discount=0.05) != tools.tpch(6)
    assert tools.tpch(5, REGION="EUROPE") != tools.tpch(5)
    with pytest.raises(ValueError, match="no parameter"):
        tools.tpch(1, REGION="ASIA")
    with pytest.raises(ValueError, match="not in the suite"):
        tools.tpch(4)


# -- the HTTP service ----------------------------------------------------------------------------


def _endpoint_calls(db: Path) -> list[tuple[str, dict[str, str]]]:
    def first(query: str) -> str:
        return str(tools.query_rows(query, db_path=db)[1][0][0])

    return [
        ("movie", {"title": first("SELECT title FROM movies ORDER BY votes DESC, id")}),
        ("movie", {"title": "no such film"}),
        ("person", {"name": first("SELECT name FROM people ORDER BY id")}),
        ("category", {"name": "Physics"}),
        ("links", {"title": first("SELECT title FROM articles ORDER BY id")}),
        ("tpch/report", {"kind": "region", "key": "ASIA"}),
        ("tpch/report", {"kind": "shipmode", "key": "MAIL"}),
        ("tpch/report", {"kind": "promo", "key": "1995-09"}),
    ]


def test_http_endpoints_answer_deterministically(configured: Path, service: str) -> None:
    calls = _endpoint_calls(configured)
    tools.configure(configured, service)
    first = [tools.http_get(ep, **params) for ep, params in calls]
    again = [tools.http_get(ep, **params) for ep, params in calls]
    with HTTPService(scale=0) as other:  # reads the configured database
        tools.configure(configured, other)
        third = [tools.http_get(ep, **params) for ep, params in calls]
    tools.configure(configured, service)
    assert first == again == third
    assert all(len(text) > 20 for text in first)
    title = calls[0][1]["title"]
    assert first[0].startswith(f"{title} (") and "Box office" in first[0]
    assert first[1].startswith("No box-office record")
    assert first[2].startswith(calls[2][1]["name"])
    assert "Related categories:" in first[3]
    assert first[4].startswith(f"Links from '{calls[4][1]['title']}'")
    assert all(text.startswith("Market report") and "$" in text for text in first[5:6])
    with pytest.raises(RuntimeError, match="404"):
        tools.http_get("weather", city="Paris")
    with pytest.raises(RuntimeError, match="400"):
        tools.http_get("movie")


def test_http_delays_are_real_and_deterministic(db: Path) -> None:
    svc = HTTPService(scale=0.01, db_path=db, seed=3)
    with svc as url:
        delays = []
        for _ in range(2):
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{url}/person?name=Ann+Smith", timeout=30) as r:
                r.read()
                delay = float(r.headers["X-Halo-Delay"])
            assert delay > 0 and time.perf_counter() - t0 >= delay
            delays.append(delay)
        assert delays[0] == delays[1] == round(svc.delay_for("/person", {"name": "Ann Smith"}), 6)
        assert svc.requests == 2
    assert svc.delay_for("/person", {"name": "Someone Else"}) != delays[0]
    # the TPC-H mean is twice the default: on average over many requests, TPC-H waits longer
    plain = [svc.delay_for("/movie", {"title": str(i)}) for i in range(400)]
    tpch = [svc.delay_for("/tpch/report", {"kind": "region", "key": str(i)}) for i in range(400)]
    assert 0.02 < sum(plain) / 400 < 0.04 and 0.045 < sum(tpch) / 400 < 0.075
    assert HTTPService(scale=0).delay_for("/movie", {"title": "x"}) == 0.0


# -- workload inputs at the benchmark's TPC-H scale ----------------------------------------------


def test_w7_draws_4096_distinct_orders(configured: Path) -> None:
    """At TPC-H scale 0.01 (the benchmark database's) W7 has 15,000 orders to draw from: 4,096
    inputs are 4,096 different orders with 4,096 different questions, for any seed."""
    from benchmarks.suite.workloads import get

    w7 = get("W7")
    for seed in (0, 1):
        inputs = w7.make_inputs(4096, seed=seed)
        assert len({i["order"] for i in inputs}) == len({i["question"] for i in inputs}) == 4096
