"""A real local HTTP service with simulated API latency, for the suite's HTTP tools.

Each request waits a Gamma-distributed delay drawn from an RNG seeded by the request itself (the
same request always waits the same time), then answers deterministic text computed from its
parameters and the benchmark DuckDB data::

    with HTTPService(scale=0.1) as url:
        tools.configure(db_path, url)
        tools.http_get("movie", title="The Hollow Crown")
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from . import tools

__all__ = ["ENDPOINTS", "HTTPService"]

ENDPOINTS = ("/movie", "/person", "/category", "/links", "/tpch/report")
TPCH_REPORT_KINDS = ("region", "nation", "segment", "shipmode", "priority", "brand", "promo")
_OUTLOOK = ("stable", "cautiously positive", "positive", "softening", "volatile", "strong")
_DRIVERS = (
    "freight costs",
    "seasonal demand",
    "supplier consolidation",
    "currency swings",
    "inventory rebuilding",
    "promotional pricing",
)


def _digest(*parts: object) -> int:
    """A stable integer hash (Python's ``hash`` is salted per process)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _canonical(path: str, params: Mapping[str, str]) -> str:
    return path + "?" + urllib.parse.urlencode(sorted(params.items()))


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a whole batch may connect at once
    service: HTTPService


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.service._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request logging."""


class HTTPService:
    """A threaded HTTP server on 127.0.0.1 (a free port) with simulated, deterministic latency.

    ``with HTTPService(...) as url`` starts it and yields its base URL. Delays are Gamma
    (``shape``) with mean ``mean_delay_s * scale`` (``tpch_mean_delay_s * scale`` under
    ``/tpch/``); ``scale=0`` answers at once. ``db_path`` is the DuckDB file answers read
    (default: the one :func:`benchmarks.suite.tools.configure` set, looked up per request)."""

    def __init__(
        self,
        *,
        mean_delay_s: float = 3.0,
        tpch_mean_delay_s: float = 6.0,
        scale: float = 1.0,
        shape: float = 2.0,
        seed: int = 0,
        db_path: str | Path | None = None,
    ) -> None:
        if min(mean_delay_s, tpch_mean_delay_s, scale) < 0 or shape <= 0:
            raise ValueError("delays and scale must be >= 0 and shape > 0")
        self.mean_delay_s = mean_delay_s
        self.tpch_mean_delay_s = tpch_mean_delay_s
        self.scale = scale
        self.shape = shape
        self.seed = seed
        self.db_path = Path(db_path).expanduser().resolve() if db_path is not None else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self.total_delay_s = 0.0
        self._routes: dict[str, Callable[[Mapping[str, str]], str]] = {
            "/movie": self._movie,
            "/person": self._person,
            "/category": self._category,
            "/links": self._links,
            "/tpch/report": self._tpch_report,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT``); the service must be running."""
        if self._server is None:
            raise RuntimeError("HTTPService is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Start serving in a daemon thread; the base URL."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.service = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.name = "halo-bench-http"
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------------------

    def delay_for(self, path: str, params: Mapping[str, str] | None = None) -> float:
        """The delay (s) a GET of ``path`` with ``params`` waits: the same for the same request."""
        if self.scale == 0:
            return 0.0
        mean = self.tpch_mean_delay_s if path.startswith("/tpch/") else self.mean_delay_s
        if mean == 0:
            return 0.0
        rng = random.Random(f"{self.seed}|{_canonical(path, params or {})}")
        return rng.gammavariate(self.shape, mean * self.scale / self.shape)

    def answer(self, path: str, params: Mapping[str, str]) -> tuple[int, str]:
        """(status, text) for a GET of ``path`` with ``params``, without the delay."""
        route = self._routes.get(path.rstrip("/") or "/")
        if route is None:
            known = ", ".join(ENDPOINTS)
            return 404, f"unknown endpoint {path!r}; endpoints: {known}"
        try:
            return 200, route(params)
        except _HTTPError as e:
            return e.status, str(e)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        start = time.monotonic()
        parts = urllib.parse.urlsplit(handler.path)
        params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path.rstrip("/") or "/"
        try:
            status, text = self.answer(path, params)
        except Exception as e:  # a bug or a database problem: answer, don't hang the client
            status, text = 500, f"internal error: {type(e).__name__}: {e}"
        delay = self.delay_for(path, params) if status == 200 else 0.0
        with self._lock:
            self.requests += 1
            self.total_delay_s += delay
        remaining = delay - (time.monotonic() - start)
        if remaining > 0:
            time.sleep(remaining)
        body = text.encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("X-Halo-Delay", f"{delay:.6f}")
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            pass

    # -- data -----------------------------------------------------------------------------------

    def _db(self) -> Path | None:
        return self.db_path if self.db_path is not None else tools.settings().db_path

    def _rows(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        db = self._db()
        if db is None:
            return []
        return tools.query_rows(query, params, db_path=db, limit=1000)[1]

    @staticmethod
    def _param(params: Mapping[str, str], name: str) -> str:
        value = params.get(name, "").strip()
        if not value:
            raise _HTTPError(400, f"missing query parameter {name!r}")
        return value

    def _find(self, table: str, column: str, value: str, order: str) -> tuple[Any, ...] | None:
        """The row of ``table`` whose ``column`` equals ``value`` (case-insensitive), else the
        first by ``order`` that contains it."""
        for cond in (f"lower({column}) = lower(?)", f"{column} ILIKE '%' || ? || '%'"):
            rows = self._rows(
                f"SELECT * FROM {table} WHERE {cond} ORDER BY {order} LIMIT 1", [value]
            )
            if rows:
                return rows[0]
        return None

    def _movie(self, params: Mapping[str, str]) -> str:
        title = self._param(params, "title")
        h = _digest("movie", title.lower())
        row = self._find("movies", "title", title, "votes DESC, id")
        if row is None:
            return (
                f"No box-office record for '{title}'. Similar searches this week: "
                f"{h % 900 + 100} requests; try the exact release title."
            )
        mid, name, year, genre, rating, votes = row
        crew = self._rows(
            "SELECT p.name, c.role FROM crew c JOIN people p ON p.id = c.person_id "
            "WHERE c.movie_id = ? ORDER BY c.role, c.person_id",
            [mid],
        )
        directors = [n for n, r in crew if r == "director"] or ["an uncredited director"]
        actors = [n for n, r in crew if r == "actor"][:2] or ["a largely unknown cast"]
        kws = [
            k
            for (k,) in self._rows(
                "SELECT k.keyword FROM movie_keywords mk JOIN keywords k ON k.id = mk.keyword_id "
                "WHERE mk.movie_id = ? ORDER BY k.id LIMIT 3",
                [mid],
            )
        ]
        gross = votes * (20 + h % 60) / 1e6
        opening = gross * (0.15 + (h >> 8) % 20 / 100)
        plot = ", ".join(k.replace("-", " ") for k in kws) or "an unusual premise"
        return (
            f"{name} ({year}) is a {genre.lower()} film directed by {' and '.join(directors)}, "
            f"starring {' and '.join(actors)}. The story revolves around {plot}. "
            f"Audiences rate it {rating:.1f}/10 from {votes:,} votes. Box office: "
            f"${gross:,.1f} million worldwide, ${opening:,.1f} million on its opening weekend."
        )

    def _person(self, params: Mapping[str, str]) -> str:
        name = self._param(params, "name")
        h = _digest("person", name.lower())
        row = self._find("people", "name", name, "id")
        if row is None:
            return f"No biography found for '{name}'."
        pid, full, born, profession = row
        credits = self._rows(
            "SELECT c.role, m.title, m.year, m.rating, m.votes FROM crew c "
            "JOIN movies m ON m.id = c.movie_id WHERE c.person_id = ? ORDER BY m.votes DESC, m.id",
            [pid],
        )
        article = "an" if profession[0] in "aeiou" else "a"
        bio = f"{full} (born {born}) is {article} {profession}"
        if not credits:
            return bio + " with no film credits on record."
        roles: dict[str, int] = {}
        for role, *_ in credits:
            roles[role] = roles.get(role, 0) + 1
        years = [c[2] for c in credits]
        _, best, best_year, best_rating, _ = credits[0]
        by_role = ", ".join(f"{n} as {r}" for r, n in sorted(roles.items()))
        return (
            f"{bio} with {len(credits)} credits ({by_role}) between {min(years)} and "
            f"{max(years)}. Best known for '{best}' ({best_year}, rated {best_rating:.1f}). "
            f"Career nominations: {h % 12}, wins: {h % 12 // 3}."
        )

    def _category(self, params: Mapping[str, str]) -> str:
        name = self._param(params, "name")
        h = _digest("category", name.lower())
        stats = self._rows(
            "SELECT category, count(*), min(year), max(year) FROM articles "
            "WHERE lower(category) = lower(?) GROUP BY category",
            [name],
        )
        if not stats:
            cats = [c for (c,) in self._rows("SELECT DISTINCT category FROM articles", [])]
            cats = sorted(cats) or ["General reference", "Culture", "Science", "History"]
            related = [cats[(h >> (8 * i)) % len(cats)] for i in range(3)]
            return (
                f"No category named '{name}'. Closest related categories: "
                f"{', '.join(dict.fromkeys(related))}."
            )
        cat, n, first, last = stats[0]
        related = [
            c
            for c, _ in self._rows(
                "SELECT d.category, count(*) AS n FROM article_links l "
                "JOIN articles s ON s.id = l.src_id JOIN articles d ON d.id = l.dst_id "
                "WHERE s.category = ? AND d.category <> ? "
                "GROUP BY d.category ORDER BY n DESC, d.category LIMIT 3",
                [cat, cat],
            )
        ]
        notable = [
            t
            for t, _ in self._rows(
                "SELECT a.title, count(*) AS n FROM article_links l JOIN articles a "
                "ON a.id = l.dst_id WHERE a.category = ? GROUP BY a.title "
                "ORDER BY n DESC, a.title LIMIT 3",
                [cat],
            )
        ]
        langs = [
            lang
            for lang, _ in self._rows(
                "SELECT language, count(*) AS n FROM articles WHERE category = ? "
                "GROUP BY language ORDER BY n DESC, language LIMIT 3",
                [cat],
            )
        ]
        return (
            f"{cat}: {n} articles on subjects documented between {first} and {last}, mostly in "
            f"{', '.join(langs)}. Most linked: {'; '.join(notable)}. "
            f"Related categories: {', '.join(related)}."
        )

    def _links(self, params: Mapping[str, str]) -> str:
        title = self._param(params, "title")
        row = self._find("articles", "title", title, "id")
        if row is None:
            return f"No article titled '{title}'."
        aid, name = row[0], row[1]
        out = [
            t
            for (t,) in self._rows(
                "SELECT a.title FROM article_links l JOIN articles a ON a.id = l.dst_id "
                "WHERE l.src_id = ? ORDER BY a.id LIMIT 10",
                [aid],
            )
        ]
        (n_in,) = self._rows("SELECT count(*) FROM article_links WHERE dst_id = ?", [aid])[0]
        listed = "; ".join(out) if out else "(none)"
        return f"Links from '{name}' ({len(out)}): {listed}. Linked from {n_in} other articles."

    def _tpch_report(self, params: Mapping[str, str]) -> str:
        kind = self._param(params, "kind").lower()
        key = self._param(params, "key")
        h = _digest("tpch", kind, key.lower())
        outlook = (
            f"Analyst outlook: {_OUTLOOK[h % len(_OUTLOOK)]}, driven by "
            f"{_DRIVERS[(h >> 8) % len(_DRIVERS)]}; demand index {80 + (h >> 16) % 41}."
        )
        facts = self._tpch_facts(kind, key)
        if facts is None:
            return (
                f"Market report ({kind} '{key}'): no matching market data "
                f"(report kinds: {', '.join(TPCH_REPORT_KINDS)}). {outlook}"
            )
        return f"Market report ({kind} '{key}'): {facts} {outlook}"

    def _tpch_facts(self, kind: str, key: str) -> str | None:
        revenue = "sum(l_extendedprice * (1 - l_discount))"
        k = key.upper()
        if kind in ("region", "nation"):
            where = "r_name = ?" if kind == "region" else "n_name = ?"
            rows = self._rows(
                f"SELECT n_name, count(DISTINCT o_orderkey), {revenue} FROM customer "
                "JOIN orders ON o_custkey = c_custkey JOIN lineitem ON l_orderkey = o_orderkey "
                "JOIN nation ON n_nationkey = c_nationkey JOIN region ON r_regionkey = n_regionkey "
                f"WHERE {where} GROUP BY n_name ORDER BY 3 DESC, n_name",
                [k],
            )
            if not rows:
                return None
            orders = sum(r[1] for r in rows)
            total = sum(float(r[2]) for r in rows)
            top = rows[0][0]
            return f"{orders:,} orders, revenue ${total / 1e6:,.2f} million; leading market {top}."
        if kind == "segment":
            rows = self._rows(
                "SELECT count(DISTINCT c_custkey), avg(c_acctbal), count(DISTINCT o_orderkey), "
                "sum(o_totalprice) FROM customer LEFT JOIN orders ON o_custkey = c_custkey "
                "WHERE c_mktsegment = ?",
                [k],
            )
            if not rows or not rows[0][0]:
                return None
            cust, bal, orders, value = rows[0]
            return (
                f"{cust:,} customers (average balance ${float(bal):,.2f}) placed {orders:,} "
                f"orders worth ${float(value or 0) / 1e6:,.2f} million."
            )
        if kind == "shipmode":
            rows = self._rows(
                "SELECT count(*), avg(CASE WHEN l_receiptdate > l_commitdate THEN 1.0 ELSE 0 END),"
                " avg(l_discount) FROM lineitem WHERE l_shipmode = ?",
                [k],
            )
            if not rows or not rows[0][0]:
                return None
            n, late, disc = rows[0]
            return (
                f"{n:,} line items shipped by {k}; {float(late):.1%} arrived after the "
                f"committed date; average discount {float(disc):.1%}."
            )
        if kind == "priority":
            rows = self._rows(
                "SELECT count(*), avg(o_totalprice) FROM orders WHERE upper(o_orderpriority) = ?",
                [k],
            )
            if not rows or not rows[0][0]:
                return None
            n, avg = rows[0]
            return f"{n:,} orders at priority {k}, average value ${float(avg):,.2f}."
        if kind == "brand":
            rows = self._rows(
                f"SELECT count(DISTINCT p_partkey), avg(p_retailprice), {revenue} FROM part "
                "LEFT JOIN lineitem ON l_partkey = p_partkey WHERE lower(p_brand) = lower(?)",
                [key],
            )
            if not rows or not rows[0][0]:
                return None
            n, price, rev = rows[0]
            return (
                f"{n:,} parts, average retail price ${float(price):,.2f}, "
                f"revenue ${float(rev or 0) / 1e6:,.2f} million."
            )
        if kind == "promo":
            month = key[:7]
            rows = self._rows(
                "SELECT 100.0 * sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * "
                f"(1 - l_discount) ELSE 0 END) / {revenue}, {revenue} FROM lineitem "
                "JOIN part ON p_partkey = l_partkey "
                "WHERE strftime(l_shipdate, '%Y-%m') = ?",
                [month],
            )
            if not rows or rows[0][1] is None:
                return None
            share, rev = rows[0]
            return (
                f"promotional parts took {float(share):.2f}% of {month} revenue "
                f"(${float(rev) / 1e6:,.2f} million shipped)."
            )
        return None
