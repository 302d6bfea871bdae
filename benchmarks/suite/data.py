"""The suite's data: one DuckDB file with IMDb-like, wiki-like and TPC-H tables.

IMDb-like and wiki-like tables are synthetic (seeded word lists and templates, deterministic);
TPC-H comes from the offline ``tpchgen-cli`` generator. :func:`build_database` is idempotent:
the file records its recipe (version, seed, scale) and is rebuilt only when that changes.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "DEFAULT_DB",
    "IMDB_TABLES",
    "RECIPE_VERSION",
    "TPCH_TABLES",
    "WIKI_TABLES",
    "build_database",
    "ensure_database",
]

RECIPE_VERSION = "2"
N_MOVIES = 2000
N_PEOPLE = 3000
N_ARTICLES = 2000

DEFAULT_DB = (
    Path(os.environ.get("HALO_CACHE_DIR", Path.home() / ".cache" / "halo"))
    / "bench"
    / "halo_bench.duckdb"
)

IMDB_TABLES: dict[str, str] = {
    "movies": "id INTEGER, title VARCHAR, year INTEGER, genre VARCHAR, rating DOUBLE, "
    "votes INTEGER",
    "people": "id INTEGER, name VARCHAR, birth_year INTEGER, profession VARCHAR",
    "crew": "movie_id INTEGER, person_id INTEGER, role VARCHAR",
    "aka_titles": "movie_id INTEGER, title VARCHAR, region VARCHAR, language VARCHAR",
    "keywords": "id INTEGER, keyword VARCHAR",
    "movie_keywords": "movie_id INTEGER, keyword_id INTEGER",
}
WIKI_TABLES: dict[str, str] = {
    "articles": "id INTEGER, title VARCHAR, category VARCHAR, language VARCHAR, year INTEGER, "
    "summary VARCHAR, body VARCHAR",
    "article_links": "src_id INTEGER, dst_id INTEGER",
}
TPCH_TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")

# -- word lists ----------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJ = _words(
    "Silent Broken Golden Last Hidden Crimson Midnight Lost Electric Frozen Burning Savage "
    "Secret Wild Distant Hollow Iron Silver Dark Bright Endless Forgotten Final Sacred Restless "
    "Lonely Fallen Velvet Scarlet Quiet Eternal Wicked Little Northern Shattered Hungry Paper "
    "Glass Stone Neon Blue Red Bitter Sweet Dangerous Perfect Invisible Strange"
)
_NOUN = _words(
    "River Kingdom Shadow Empire Garden Storm Horizon Heart City Dream Road Harbor Mirror Valley "
    "Promise Island Night Sky Winter Summer Fire Ocean Tower Machine Frontier Station Voyage "
    "Secret Game Code Witness Symphony Orchard Desert Circus Signal Lighthouse Crown Engine Letter "
    "Moon Sun Rain Bridge House Hunter Stranger Angel Soldier Thief Queen King Wolf Bird Song"
)
_PLACE = _words(
    "Paris Tokyo Brooklyn Havana Cairo Berlin Memphis Casablanca Bombay Marseille Lisbon Chicago "
    "Sicily Alaska Texas Shanghai Istanbul Vienna Rio Dublin Naples Oslo Harlem Saigon Tangier"
)
_TITLE_PATTERNS = (
    "The {adj} {noun}",
    "{adj} {noun}",
    "The {noun} of {place}",
    "{noun} in {place}",
    "A {adj} {noun}",
    "Return to {place}",
    "The Last {noun}",
    "{adj} {noun}s",
    "The {noun} and the {noun2}",
    "{place} {noun}",
    "Beyond the {adj} {noun}",
    "{noun} of the {adj} {noun2}",
)
_GENRES = (
    ("Drama", 22),
    ("Comedy", 16),
    ("Thriller", 10),
    ("Action", 10),
    ("Romance", 8),
    ("Horror", 6),
    ("Sci-Fi", 6),
    ("Documentary", 5),
    ("Animation", 4),
    ("Crime", 7),
    ("Western", 2),
    ("Musical", 2),
    ("Fantasy", 4),
    ("Mystery", 5),
    ("War", 3),
    ("Adventure", 6),
)
_FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony "
    "Betty Mark Margaret Paul Sandra Steven Ashley Andrew Kimberly Kenneth Emily Joshua Donna "
    "Kevin Michelle Brian Carol George Amanda Edward Melissa Ronald Deborah Timothy Stephanie "
    "Jason Rebecca Jeffrey Sharon Ryan Laura Jacob Cynthia Gary Kathleen Nicholas Amy Eric Helen "
    "Akira Yuki Hiro Mei Sofia Luca Marco Giulia Pierre Amelie Hans Greta Ingrid Lars Olga Ivan "
    "Diego Lucia Carmen Pedro Ravi Priya Arjun Ana Kwame Amara Omar Leila Chen Lin"
)
_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Tanaka Sato "
    "Suzuki Rossi Bianchi Dubois Moreau Muller Schmidt Fischer Larsen Hansen Petrov Ivanova Silva "
    "Costa Kapoor Sharma Patel Mensah Okafor Haddad Khan Wang Zhang Kowalski Novak Horvat Murphy "
    "Kelly Byrne Novotny Lindqvist Berg Castillo Vargas Romero Ortega Dumont Laurent Weber Wagner"
)
_PROFESSIONS = (("actor", 62), ("director", 14), ("writer", 17), ("composer", 7))
_KEYWORDS = _words(
    "murder revenge friendship heist time-travel small-town coming-of-age dystopia serial-killer "
    "road-trip based-on-novel high-school alien robot zombie wedding courtroom prison-escape spy "
    "world-war-ii cold-war space-travel artificial-intelligence family-secret betrayal mafia "
    "boxing music-band dance vampire haunted-house treasure-hunt pirate cowboy detective "
    "kidnapping amnesia conspiracy journalism corruption survival shipwreck mountain-climbing "
    "chess football racing hacker pandemic monster dragon magic witch superhero fairy-tale "
    "biography true-story independent-film nonlinear-timeline twist-ending flashback "
    "dream-sequence single-location ensemble-cast father-son mother-daughter sibling-rivalry "
    "love-triangle forbidden-love divorce immigration new-york paris london tokyo desert jungle "
    "arctic island submarine train airplane hospital school church farm circus casino museum "
    "library bank-robbery assassin bodyguard undercover revolution civil-war samurai "
    "martial-arts surfing cooking painting photography politics election"
)
_REGIONS = (
    ("US", "en"),
    ("GB", "en"),
    ("FR", "fr"),
    ("DE", "de"),
    ("ES", "es"),
    ("IT", "it"),
    ("BR", "pt"),
    ("MX", "es"),
    ("JP", "ja"),
    ("KR", "ko"),
    ("IN", "hi"),
    ("RU", "ru"),
)
# Tiny dictionaries for plausible translated release titles (unknown words stay English).
_EN_WORDS = _words(
    "The A of in and to Return Last Night River Heart City Dream Road Island Sky Winter Summer "
    "Fire Ocean Secret Game King Queen Wolf Song Moon Sun Rain House Silent Lost Dark Golden Wild"
)


def _dictionary(text: str) -> dict[str, str]:
    return dict(zip(_EN_WORDS, _words(text), strict=True))


_TRANSLATE: dict[str, dict[str, str]] = {
    "fr": _dictionary(
        "Le Un de à et à Retour Dernier Nuit Rivière Cœur Ville Rêve Route Île Ciel Hiver Été "
        "Feu Océan Secret Jeu Roi Reine Loup Chanson Lune Soleil Pluie Maison Silencieux Perdu "
        "Sombre Doré Sauvage"
    ),
    "de": _dictionary(
        "Der Ein von in und nach Rückkehr Letzte Nacht Fluss Herz Stadt Traum Straße Insel Himmel "
        "Winter Sommer Feuer Ozean Geheimnis Spiel König Königin Wolf Lied Mond Sonne Regen Haus "
        "Stille Verlorene Dunkle Goldene Wilde"
    ),
    "es": _dictionary(
        "El Un de en y a Regreso Último Noche Río Corazón Ciudad Sueño Camino Isla Cielo Invierno "
        "Verano Fuego Océano Secreto Juego Rey Reina Lobo Canción Luna Sol Lluvia Casa Silencioso "
        "Perdido Oscuro Dorado Salvaje"
    ),
    "it": _dictionary(
        "Il Un di in e a Ritorno Ultimo Notte Fiume Cuore Città Sogno Strada Isola Cielo Inverno "
        "Estate Fuoco Oceano Segreto Gioco Re Regina Lupo Canzone Luna Sole Pioggia Casa "
        "Silenzioso Perduto Oscuro Dorato Selvaggio"
    ),
    "pt": _dictionary(
        "O Um de em e a Regresso Último Noite Rio Coração Cidade Sonho Estrada Ilha Céu Inverno "
        "Verão Fogo Oceano Segredo Jogo Rei Rainha Lobo Canção Lua Sol Chuva Casa Silencioso "
        "Perdido Escuro Dourado Selvagem"
    ),
}
_AKA_SUFFIX = (
    ": The Movie",
    " (Director's Cut)",
    ": Extended Edition",
    " (Working Title)",
    " - Remastered",
    ": Part One",
)

# Wiki categories: earliest year, then (title pattern, what the subject is) pairs.
_CATEGORIES: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {
    "Physics": (
        1600,
        (
            ("{surname} effect", "phenomenon"),
            ("{surname}'s law", "physical law"),
            ("{adj} {topic}", "theory"),
            ("{surname}-{surname2} equation", "equation"),
        ),
    ),
    "Chemistry": (
        1700,
        (
            ("{surname} reaction", "reaction"),
            ("{adj} {topic}", "process"),
            ("{surname} reagent", "reagent"),
            ("{place}ite", "mineral"),
        ),
    ),
    "Biology": (
        1750,
        (
            ("{place} {animal}", "species"),
            ("{adj} {animal}", "species"),
            ("{surname}'s {animal}", "subspecies"),
            ("{topic} cycle", "biological process"),
        ),
    ),
    "Astronomy": (
        1600,
        (
            ("{place} Nebula", "nebula"),
            ("{surname}'s Comet", "comet"),
            ("{adj} {topic}", "phenomenon"),
            ("{surname} Observatory", "observatory"),
        ),
    ),
    "Mathematics": (
        1500,
        (
            ("{surname} theorem", "theorem"),
            ("{surname}'s conjecture", "conjecture"),
            ("{adj} {topic}", "mathematical theory"),
            ("{surname} number", "constant"),
        ),
    ),
    "Computer science": (
        1940,
        (
            ("{surname}'s algorithm", "algorithm"),
            ("{adj} {topic}", "programming concept"),
            ("{surname} machine", "model of computation"),
            ("{topic} protocol", "protocol"),
        ),
    ),
    "History": (
        1500,
        (
            ("Battle of {place}", "battle"),
            ("Treaty of {place}", "treaty"),
            ("{place} Revolution", "revolution"),
            ("Siege of {place}", "siege"),
        ),
    ),
    "Geography": (
        1500,
        (
            ("{place} River", "river"),
            ("Mount {place}", "mountain"),
            ("{place} Province", "province"),
            ("Lake {place}", "lake"),
        ),
    ),
    "Music": (
        1600,
        (
            ("{place} Symphony", "symphony"),
            ("{surname} Quartet", "ensemble"),
            ("{adj} {topic}", "musical style"),
            ("{place} Jazz Festival", "festival"),
        ),
    ),
    "Literature": (
        1500,
        (
            ("The {adj} {thing}", "novel"),
            ("{surname}'s {thing}", "poem"),
            ("{place} Chronicles", "book series"),
            ("Songs of {place}", "poetry collection"),
        ),
    ),
    "Art": (
        1500,
        (
            ("{place} School", "art movement"),
            ("{adj} {topic}", "art style"),
            ("{surname}'s {thing}", "painting"),
            ("{place} Biennale", "art exhibition"),
        ),
    ),
    "Film": (
        1895,
        (
            ("{place} Film Festival", "film festival"),
            ("{adj} {topic}", "film genre"),
            ("{surname} Studios", "film studio"),
            ("{place} New Wave", "film movement"),
        ),
    ),
    "Sports": (
        1860,
        (
            ("{place} Marathon", "marathon"),
            ("{place} FC", "football club"),
            ("{place} Open", "tournament"),
            ("{surname} Cup", "trophy"),
        ),
    ),
    "Economics": (
        1700,
        (
            ("{surname} curve", "economic concept"),
            ("{adj} {topic}", "economic theory"),
            ("{place} Stock Exchange", "stock exchange"),
            ("{surname} model", "economic model"),
        ),
    ),
    "Philosophy": (
        1500,
        (
            ("{surname}ism", "school of thought"),
            ("{adj} {topic}", "philosophical concept"),
            ("{surname}'s paradox", "paradox"),
            ("{place} Circle", "philosophical movement"),
        ),
    ),
    "Politics": (
        1600,
        (
            ("{place} Accord", "agreement"),
            ("{place} Party", "political party"),
            ("{adj} {topic}", "ideology"),
            ("{surname} Doctrine", "doctrine"),
        ),
    ),
    "Medicine": (
        1750,
        (
            ("{surname} syndrome", "syndrome"),
            ("{surname}'s disease", "disease"),
            ("{adj} {topic}", "treatment approach"),
            ("{place} fever", "infectious disease"),
        ),
    ),
    "Architecture": (
        1500,
        (
            ("{place} Cathedral", "cathedral"),
            ("{place} Tower", "tower"),
            ("{surname} House", "house"),
            ("{place} Bridge", "bridge"),
        ),
    ),
    "Technology": (
        1750,
        (
            ("{surname} engine", "engine"),
            ("{adj} {topic}", "technology"),
            ("{place} Telegraph", "telegraph system"),
            ("{surname} process", "industrial process"),
        ),
    ),
    "Linguistics": (
        1500,
        (
            ("{place} language", "language"),
            ("{place} script", "writing system"),
            ("{adj} {topic}", "linguistic phenomenon"),
            ("{surname}'s law (linguistics)", "sound law"),
        ),
    ),
    "Religion": (
        1500,
        (
            ("{place} Abbey", "abbey"),
            ("{place} Temple", "temple"),
            ("{adj} {topic}", "tradition"),
            ("Order of {place}", "religious order"),
        ),
    ),
    "Transport": (
        1800,
        (
            ("{place} Railway", "railway"),
            ("{place} Canal", "canal"),
            ("{place} Airport", "airport"),
            ("{place}–{place2} Highway", "highway"),
        ),
    ),
}
_TOPIC = _words(
    "resonance diffusion symmetry entropy lattice field transform network graph manifold "
    "realism minimalism federalism liberalism theory synthesis migration inflation equilibrium "
    "tradition modernism sequencing dynamics cascade harmony mechanics"
)
_SCI_ADJ = _words(
    "Quantum Nonlinear Classical Stochastic Baroque Abstract Comparative Structural Applied "
    "Medieval Modern Early Late Radical Thermal Spectral Urban Coastal Distributed Adaptive"
)
_ANIMAL = _words(
    "warbler beetle salamander orchid frog bat finch moth gecko trout lichen fern heron"
)
_THING = _words("Garden Letters Mirror Voyage Inheritance Orchard Lantern Archive Manuscript Elegy")
_SYLLABLES = _words(
    "al bar cor dan el fen gor har is jen kal lor mar nor or pel quin ros sal tor ul ven wen "
    "yar zel ast bri cal dor eth fal gal ind kor lin mon nar ost"
)
_PLACE_ENDINGS = ("ia", "a", "on", "heim", "burg", "ford", "ovo", "ara", "stan", "mouth", "ville")
_LANGS: tuple[tuple[str, int], ...] = (
    ("en", 55),
    ("de", 9),
    ("fr", 8),
    ("es", 7),
    ("it", 5),
    ("ja", 5),
    ("ru", 4),
    ("pt", 3),
    ("zh", 2),
    ("nl", 2),
)
_IMPORTANCE = ("central", "influential", "foundational", "controversial", "well documented")
_STANDING = ("widely studied", "a popular subject", "an active research area", "well known")
_BODY_TEMPLATES = (
    "It was first described in {year} by {person}, whose work at the University of {place} "
    "drew wide attention.",
    "{title} is closely related to {link}, and the two are often discussed together.",
    "Scholars of {cat} regard it as {importance} for understanding {topic}.",
    "A major reassessment followed in {year2}, when new evidence from {place2} became available.",
    "Early accounts by {person2} emphasised its connection to {topic2}.",
    "By {year3} the subject appeared in most standard references on {cat}.",
    "Today it is {standing}, with articles in {nlang} languages.",
    "Critics such as {person2} argued that its importance had been overstated.",
    "Its name comes from {place}, where the first records were kept.",
)


def _weighted(rng: random.Random, items: Sequence[tuple[str, int]]) -> str:
    return rng.choices([n for n, _ in items], weights=[w for _, w in items])[0]


def _pick(
    rng: random.Random,
    pool: Sequence[int],
    k: int,
    ok: Callable[[int], bool] = lambda _: True,
    hot: float = 0.3,
) -> list[int]:
    """Up to ``k`` distinct items of ``pool`` passing ``ok``; with probability ``hot`` each
    comes from the first tenth of the pool (its popular items), else from all of it."""
    top = pool[: max(1, len(pool) // 10)]
    out: list[int] = []
    for _ in range(30 * k):
        if len(out) >= k:
            break
        item = rng.choice(top if rng.random() < hot else pool)
        if item not in out and ok(item):
            out.append(item)
    return out


# -- IMDb-like tables ----------------------------------------------------------------------------


def _imdb_rows(seed: int) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(f"{seed}:imdb")
    movies: list[tuple[Any, ...]] = []
    titles: set[str] = set()
    for mid in range(1, N_MOVIES + 1):
        while True:
            title = rng.choice(_TITLE_PATTERNS).format(
                adj=rng.choice(_ADJ),
                noun=rng.choice(_NOUN),
                noun2=rng.choice(_NOUN),
                place=rng.choice(_PLACE),
            )
            if title not in titles:
                break
            if rng.random() < 0.3:  # a sequel
                title = f"{title} {rng.choice(('II', 'III', 'Returns', 'Reloaded'))}"
                if title not in titles:
                    break
        titles.add(title)
        year = min(2024, int(rng.triangular(1930, 2024, 2012)))
        genre = _weighted(rng, _GENRES)
        rating = round(min(9.8, max(1.2, rng.gauss(6.3, 1.2))), 1)
        votes = int(rng.lognormvariate(8.0, 1.6)) + 5
        movies.append((mid, title, year, genre, rating, votes))

    people: list[tuple[Any, ...]] = []
    names: set[str] = set()
    by_prof: dict[str, list[int]] = {p: [] for p, _ in _PROFESSIONS}
    for pid in range(1, N_PEOPLE + 1):
        while True:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            if name in names:
                name = (
                    f"{rng.choice(_FIRST)} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {rng.choice(_LAST)}"
                )
            if name not in names:
                break
        names.add(name)
        prof = _weighted(rng, _PROFESSIONS)
        people.append((pid, name, int(rng.triangular(1895, 2005, 1965)), prof))
        by_prof[prof].append(pid)

    born = {p[0]: p[2] for p in people}
    crew: list[tuple[Any, ...]] = []
    for mid, _title, year, *_ in movies:

        def active(pid: int, min_age: int = 20, year: int = year) -> bool:
            return born[pid] + min_age <= year <= born[pid] + 85

        def young(pid: int, year: int = year) -> bool:
            return active(pid, 8, year)

        cast = {
            "director": _pick(rng, by_prof["director"], 1 + (rng.random() < 0.08), active),
            "writer": _pick(rng, by_prof["writer"], rng.randint(1, 2), active),
            "actor": _pick(rng, by_prof["actor"], rng.randint(3, 8), young),
            "composer": _pick(rng, by_prof["composer"], int(rng.random() < 0.7), active),
        }
        for role, pids in cast.items():
            crew.extend((mid, pid, role) for pid in pids)

    aka: list[tuple[Any, ...]] = []
    for mid, title, *_ in movies:
        for region, lang in rng.sample(_REGIONS, rng.choice((0, 1, 1, 2, 2, 3))):
            table = _TRANSLATE.get(lang)
            if table is not None:
                alt = " ".join(table.get(w, w) for w in title.split())
            elif lang == "en":
                alt = f"{title}{rng.choice(_AKA_SUFFIX)}"
            else:
                alt = f"{title} ({region} release)"
            aka.append((mid, alt, region, lang))

    keywords = [(i + 1, kw) for i, kw in enumerate(_KEYWORDS)]
    kw_ids = [k for k, _ in keywords]
    affinity = {g: random.Random(f"{seed}:genre:{g}").sample(kw_ids, 15) for g, _ in _GENRES}
    movie_keywords: list[tuple[Any, ...]] = []
    for mid, _title, _year, genre, *_ in movies:
        chosen: set[int] = set()
        for _ in range(rng.randint(3, 8)):
            pool = affinity[genre] if rng.random() < 0.65 else kw_ids
            chosen.add(rng.choice(pool))
        movie_keywords.extend((mid, k) for k in sorted(chosen))

    return {
        "movies": movies,
        "people": people,
        "crew": crew,
        "aka_titles": aka,
        "keywords": keywords,
        "movie_keywords": movie_keywords,
    }


# -- wiki-like tables ----------------------------------------------------------------------------


def _place_name(rng: random.Random) -> str:
    stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2))))
    return (stem + rng.choice(_PLACE_ENDINGS)).capitalize()


def _wiki_rows(seed: int) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(f"{seed}:wiki")
    places = sorted({_place_name(rng) for _ in range(600)})
    people = [
        f"{f} {s}" for f, s in zip(rng.sample(_FIRST, 60), rng.sample(_LAST, 60), strict=True)
    ]
    cats = list(_CATEGORIES)
    cat_weights = [rng.uniform(0.5, 2.0) for _ in cats]

    heads: list[tuple[int, str, str, str, int]] = []
    titles: set[str] = set()
    title_list: list[str] = []
    for aid in range(1, N_ARTICLES + 1):
        cat = rng.choices(cats, weights=cat_weights)[0]
        first_year, pairs = _CATEGORIES[cat]
        while True:
            pattern, kind = rng.choice(pairs)
            title = pattern.format(
                surname=rng.choice(_LAST),
                surname2=rng.choice(_LAST),
                place=rng.choice(places),
                place2=rng.choice(places),
                adj=rng.choice(_SCI_ADJ),
                topic=rng.choice(_TOPIC),
                animal=rng.choice(_ANIMAL),
                thing=rng.choice(_THING),
            )
            if title not in titles:
                break
        titles.add(title)
        title_list.append(title)
        year = int(rng.triangular(first_year, 2024, max(first_year, 1960)))
        heads.append((aid, title, cat, kind, year))

    by_cat: dict[str, list[int]] = {c: [] for c in cats}
    for aid, _t, cat, _k, _y in heads:
        by_cat[cat].append(aid)
    all_ids = [h[0] for h in heads]
    links: list[tuple[Any, ...]] = []
    out_links: dict[int, list[int]] = {}
    for aid, _t, cat, _k, _y in heads:
        dsts: list[int] = []
        for _ in range(rng.randint(2, 8)):
            pool = by_cat[cat] if rng.random() < 0.7 else all_ids
            dst = _pick(rng, pool, 1)[0]
            if dst != aid and dst not in dsts:
                dsts.append(dst)
        out_links[aid] = dsts
        links.extend((aid, d) for d in dsts)

    title_of = {h[0]: h[1] for h in heads}
    articles: list[tuple[Any, ...]] = []
    for aid, title, cat, kind, year in heads:
        lang = _weighted(rng, _LANGS)
        where = rng.choice(places)
        a = "an" if kind[0] in "aeiou" else "a"
        summary = f"{title} is {a} {kind} ({cat.lower()}), first documented in {year} in {where}."
        link = title_of[out_links[aid][0]] if out_links[aid] else rng.choice(title_list)
        values = {
            "title": title,
            "year": year,
            "year2": min(2024, year + rng.randint(5, 80)),
            "year3": min(2024, year + rng.randint(20, 150)),
            "person": rng.choice(people),
            "person2": rng.choice(people),
            "place": where,
            "place2": rng.choice(places),
            "link": link,
            "cat": cat.lower(),
            "topic": rng.choice(_TOPIC),
            "topic2": rng.choice(_TOPIC),
            "importance": rng.choice(_IMPORTANCE),
            "standing": rng.choice(_STANDING),
            "nlang": rng.randint(2, 60),
        }
        sentences = [_BODY_TEMPLATES[0], _BODY_TEMPLATES[1]]
        sentences += rng.sample(_BODY_TEMPLATES[2:], rng.randint(1, 3))
        body = " ".join(s.format(**values) for s in sentences)
        articles.append((aid, title, cat, lang, year, summary, body))
    return {"articles": articles, "article_links": links}


# -- building ------------------------------------------------------------------------------------


def _tpchgen() -> str:
    exe = Path(sys.executable).parent / "tpchgen-cli"
    if exe.exists():
        return str(exe)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise RuntimeError(
            "tpchgen-cli not found: install the bench extra (pip install tpchgen-cli)"
        )
    return found


def _load_rows(
    con: duckdb.DuckDBPyConnection,
    tmp: Path,
    name: str,
    schema: str,
    rows: list[tuple[Any, ...]],
) -> None:
    file = tmp / f"{name}.csv"
    with file.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    con.execute(f"CREATE TABLE {name} ({schema})")
    con.execute(f"COPY {name} FROM '{file}' (FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"')")


def _recipe(seed: int, tpch_scale: float) -> dict[str, str]:
    return {"version": RECIPE_VERSION, "seed": str(seed), "tpch_scale": repr(float(tpch_scale))}


def _current_recipe(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return dict(con.execute("SELECT key, value FROM halo_meta").fetchall())
    except duckdb.Error:
        return None
    finally:
        con.close()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(f"{path}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_database(path: str | Path, *, tpch_scale: float = 0.01, seed: int = 0) -> Path:
    """Build the suite's DuckDB file at ``path`` (IMDb-like, wiki-like and TPC-H tables at scale
    factor ``tpch_scale``; 0 skips TPC-H) unless it already holds this recipe; returns the path.

    Deterministic for a given seed and scale; built into a temporary file and moved into place,
    under a file lock, so concurrent callers see either no file or a complete one."""
    path = Path(path).expanduser().resolve()
    recipe = _recipe(seed, tpch_scale)
    if _current_recipe(path) == recipe:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path):
        if _current_recipe(path) == recipe:
            return path
        with tempfile.TemporaryDirectory(prefix="halo-bench-", dir=path.parent) as tmpdir:
            tmp = Path(tmpdir)
            db = tmp / "build.duckdb"
            con = duckdb.connect(str(db))
            try:
                for name, rows in _imdb_rows(seed).items():
                    _load_rows(con, tmp, name, IMDB_TABLES[name], rows)
                for name, rows in _wiki_rows(seed).items():
                    _load_rows(con, tmp, name, WIKI_TABLES[name], rows)
                if tpch_scale > 0:
                    out = tmp / "tpch"
                    threads = str(min(4, os.cpu_count() or 1))
                    cmd = [_tpchgen(), "parquet", "-s", str(tpch_scale), "-o", str(out)]
                    run = subprocess.run(
                        [*cmd, "-n", threads, "-q"], capture_output=True, text=True
                    )
                    if run.returncode != 0:
                        raise RuntimeError(f"{' '.join(cmd)} failed: {run.stderr.strip()}")
                    for name in TPCH_TABLES:
                        src = out / f"{name}.parquet"
                        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{src}')")
                con.execute("CREATE TABLE halo_meta (key VARCHAR, value VARCHAR)")
                con.executemany("INSERT INTO halo_meta VALUES (?, ?)", list(recipe.items()))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            Path(f"{path}.wal").unlink(missing_ok=True)  # never replay an old log onto the new file
            os.replace(db, path)
    return path


def ensure_database() -> Path:
    """The default benchmark database (:data:`DEFAULT_DB`), built there when missing."""
    return build_database(DEFAULT_DB)


def main() -> None:
    """``python -m benchmarks.suite.data [PATH]``: build (or verify) the database, print sizes."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DB
    t0 = time.perf_counter()
    path = build_database(target)
    took = time.perf_counter() - t0
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for t in tables:
            n = con.execute(f"SELECT count(*) FROM {t}").fetchone()
            print(f"{t:16s} {n[0] if n else 0:>8,d}")
    finally:
        con.close()
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {took:.1f} s")


if __name__ == "__main__":
    main()
