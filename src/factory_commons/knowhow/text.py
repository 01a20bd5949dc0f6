"""Turning a case or a query into search terms: morphemes, character bigrams and concepts.

* morphemes (`m:`) from Kiwi (kiwipiepy, its model from the kiwipiepy-model package; nothing is
  downloaded): nouns, verb and adjective stems, roots, foreign words; English words lower-cased
  with a light suffix stemmer (leaking -> leak); the thesaurus' Korean nouns are added to Kiwi's
  dictionary so 유압실린더 splits into 유압 + 실린더;
* character bigrams (`b:`) of the text without spaces, so spacing variants (오일 샘 / 오일샘) and
  typos that keep most of a word still meet;
* concepts (`c:`) of the shop-floor thesaurus (`thesaurus.py`): Korean forms found in the text
  without spaces, English forms as whole words (both stemmed, so drips meets drip). `related_concepts` gives the concepts usually
  written up with them; `stem_concepts` (for queries) those whose verb or adjective the text
  uses with an ending the thesaurus does not list.

`bigrams()` alone is the plain baseline of the benchmark (`bench/knowhow.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
import unicodedata
from pathlib import Path

from .thesaurus import CONCEPTS, RELATED

_HANGUL = re.compile("[\uac00-\ud7a3]")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_EN_WORD = re.compile(r"[a-z][a-z0-9\-]*")
#: Kiwi tags kept as terms: nouns, verb/adjective stems, roots, foreign words, numbers, adverbs
_KEEP_TAGS = ("NNG", "NNP", "VV", "VA", "XR", "SL", "SH", "MAG", "NR")
_STOP_EN = frozenset(
    "a an the of on in at to is are was were be been it its and or for from with by this that as after "
    "before when while not no".split()
)
_lock = threading.Lock()


def normalize(text: str) -> str:
    """NFKC (full-width letters, compatibility jamo), lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def squeeze(text: str) -> str:
    """The normalized text without spaces or punctuation (where Korean forms are looked for)."""
    return _NON_WORD.sub("", normalize(text)).replace("_", "")


def stem_en(word: str) -> str:
    """A light English stemmer: leaking, leaks, leaked -> leak; vibrating -> vibrat."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


#: Kiwi without its multi-word dictionary (proper names of several words): the same kept
#: morphemes for every case and query of both evaluation sets, and each `knowhow search` command
#: uses about 1.7 s less CPU and 185 MB less memory (docs/knowhow.md)
KIWI_OPTIONS = {"load_multi_dict": False}


@functools.cache
def _kiwi():
    from kiwipiepy import Kiwi

    kiwi = Kiwi(**KIWI_OPTIONS)
    for forms in CONCEPTS.values():
        for f in forms:
            if _HANGUL.search(f) and len(f) >= 2 and f.isalnum():
                kiwi.add_user_word(f, "NNG", 0.0)
    return kiwi


def morphemes(text: str) -> list[str]:
    """Kiwi morphemes of the kept tags (Korean stems, nouns; English words stemmed)."""
    norm = normalize(text)
    if not norm.strip():
        return []
    with _lock:
        tokens = _kiwi().tokenize(norm)
    out = []
    for t in tokens:
        if t.tag not in _KEEP_TAGS:
            continue
        form = t.form.lower()
        if t.tag == "SL":
            if form in _STOP_EN or len(form) < 2:
                continue
            form = stem_en(form)
        out.append(form)
    return out


def bigrams(text: str) -> list[str]:
    """Character bigrams of the text without spaces (the plain baseline's terms)."""
    s = squeeze(text)
    if len(s) < 2:
        return [s] if s else []
    return [s[i : i + 2] for i in range(len(s) - 1)]


def stem_words(text: str) -> str:
    """Every English word of a normalized text stemmed (`stem_en`), the rest kept."""
    return _EN_WORD.sub(lambda m: stem_en(m.group()), text)


@functools.cache
def _matchers() -> tuple[tuple[str, tuple[str, ...], re.Pattern | None], ...]:
    out = []
    for concept, forms in CONCEPTS.items():
        ko = tuple(f for f in forms if _HANGUL.search(f))
        # English forms match stemmed words on both sides: drips / dripping / drip meet
        en = sorted({re.escape(stem_words(f)) for f in forms if not _HANGUL.search(f)})
        pattern = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(sorted(en, key=len, reverse=True)) + r")(?![a-z0-9])")
            if en
            else None
        )
        out.append((concept, ko, pattern))
    return tuple(out)


def concepts(text: str) -> list[str]:
    """The thesaurus concepts the text mentions, each once, in thesaurus order."""
    norm, sq = stem_words(normalize(text)), squeeze(text)
    found = []
    for concept, ko, pattern in _matchers():
        if any(f in sq for f in ko) or (pattern is not None and pattern.search(norm)):
            found.append(concept)
    return found


#: Kiwi tags of the thesaurus stems a query is also matched by: verbs and adjectives, whose endings
#: a person writes in more ways than the thesaurus lists
_STEM_TAGS = ("VV", "VA")


def _stem_cache_file() -> Path:
    """Where the stem index is kept between processes: the user's cache folder, one file per
    thesaurus and Kiwi version (`FC_CACHE_DIR`, else `XDG_CACHE_HOME`, else ~/.cache)."""
    try:
        from kiwipiepy import __version__ as kiwi_version
    except ImportError:  # pragma: no cover - kiwipiepy is a dependency
        kiwi_version = "?"
    key = hashlib.sha256(json.dumps([sorted(CONCEPTS.items()), kiwi_version], ensure_ascii=False).encode())
    base = os.environ.get("FC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "factory-commons"
    )
    return Path(base) / f"knowhow-stems-{key.hexdigest()[:16]}.json"


@functools.cache
def _stem_index() -> dict[tuple[str, str], tuple[str, ...]]:
    """(stem, tag) -> concepts: each Korean thesaurus form that Kiwi reads as one verb or adjective
    stem of two syllables or more plus endings or particles (고여 -> 고이/VV, 흘러 -> 흐르/VV,
    떨려 -> 떨리/VV). One-syllable stems (새, 떨) match too much.

    Read with a Kiwi without the thesaurus' own words (which keep a form whole), made for this and
    dropped: about 4 s of CPU, so the index is kept in the user's cache folder and the next
    process (a `knowhow search` command) reads it in milliseconds."""
    path = _stem_cache_file()
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {(form, tag): tuple(cs) for form, tag, cs in rows}
    except (OSError, ValueError, TypeError):
        pass
    index = _read_stems()
    try:  # a read-only home: computed again next time, nothing else changes
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps([[f, t, list(cs)] for (f, t), cs in index.items()], ensure_ascii=False), "utf-8"
        )
        tmp.replace(path)
    except OSError:
        pass
    return index


def _read_stems() -> dict[tuple[str, str], tuple[str, ...]]:
    from kiwipiepy import Kiwi

    plain = Kiwi()
    out: dict[tuple[str, str], list[str]] = {}
    for concept, forms in CONCEPTS.items():
        for f in forms:
            if not _HANGUL.search(f):
                continue
            kept = [(t.form, t.tag) for t in plain.tokenize(f) if not t.tag.startswith(("E", "J", "XS", "S"))]
            if len(kept) == 1 and kept[0][1] in _STEM_TAGS and len(kept[0][0]) >= 2:
                out.setdefault(kept[0], []).append(concept)
    return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}


@functools.lru_cache(maxsize=1024)
def stem_concepts(text: str) -> tuple[str, ...]:
    """The concepts of the thesaurus verbs and adjectives whose stem the text uses, in whatever
    form (고였더라고요 -> 고이 -> leak; the surface forms list only some endings), not already
    found by `concepts`, in thesaurus order. Used on the query side only (search.query_terms)."""
    norm = normalize(text)
    if not _HANGUL.search(norm):
        return ()
    index = _stem_index()
    with _lock:
        tokens = _kiwi().tokenize(norm)
    hit = {c for t in tokens if t.tag in _STEM_TAGS for c in index.get((t.form, t.tag), ())}
    if not hit:
        return ()
    found = set(concepts(text))
    return tuple(c for c in CONCEPTS if c in hit and c not in found)


def related_concepts(found: list[str]) -> list[str]:
    """Concepts usually written up with the found ones, not already found."""
    seen = set(found)
    out = []
    for c in found:
        for r in RELATED.get(c, ()):
            if r not in seen:
                seen.add(r)
                out.append(r)
    return out


def terms(text: str) -> list[str]:
    """All search terms of a text: `m:` morphemes, `b:` bigrams, `c:` concepts (with repeats)."""
    return (
        ["m:" + m for m in morphemes(text)]
        + ["b:" + b for b in bigrams(text)]
        + ["c:" + c for c in concepts(text)]
    )
