"""Every commons page speaks one language: an English page shows no Hangul and a Korean page no
English text of the catalogs, outside names and addresses (and what people typed: titles,
messages). The pages are every GET page of the app under /catalog, /commons and /signup (a new
page without a sample here fails the test), as the people who use them see them: a visitor, a
shop owner, a cooperative's manager, with a request, a pool, a campaign, an order's thread and a
refused form on them, in Korean and in English.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from commons_plant import COOP, commons_plant
from fastapi.testclient import TestClient
from test_security_roles import _routes
from test_server_plant import PASSWORD

from factory_commons.cooperate import places
from factory_commons.cooperate.experts import load_experts
from factory_commons.cooperate.model import Cooperative, Profile, Request
from factory_commons.cooperate.vocab import MATERIALS, PROCESSES
from factory_commons.i18n import Catalog
from factory_commons.store import DuckDBStore

HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # a catalog key or code shown as it is ("co_nav")
#: the catalogs of the commons pages (web/commons.py's translator)
DOMAINS = (
    "web",
    "commons",
    "states",
    "kpi",
    "commons_terms",
    "commons_orders",
    "commons_pages",
    "commons_errors",
)
#: pages that are not HTML for reading (downloads)
DOWNLOADS = ("/settlement.csv", "/settlement.xlsx", "/files/{file_id}")


@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    plant = commons_plant(store)
    yield plant
    store.close()


def login(plant, email: str) -> TestClient:
    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return c


def post(c: TestClient, path: str, **form) -> str:
    r = c.post(path, data={**form, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False)
    assert r.status_code == 303, (path, r.text[:300])
    return r.headers["location"]


@pytest.fixture(scope="module")
def objects(plant) -> dict[str, str]:
    """A request with matches, a pool and a campaign of the cooperative, with members in."""
    acme = login(plant, "owner@acme.example")
    form = {"title": "브래킷 / bracket", "process1": "milling", "material1": "aluminium", "quantity1": "10"}
    form |= {"process2": "anodizing", "material2": "aluminium", "quantity2": "10"}
    where = post(acme, "/commons/requests", **form, due=str(plant.clock().date() + timedelta(days=30)))
    request_id = where.split("?")[0].rsplit("/", 1)[1]
    coop = plant.client("coop")
    body = {
        "cooperative": COOP,
        "title": {"ko": "강판 공동구매", "en": "Steel sheet co-purchase"},
        "material": "steel",
        "spec": {"ko": "SS400", "en": "SS400"},
        "unit": "kg",
        "tiers": [{"min_quantity": 100, "unit_price_krw": 1000}],
        "minimum_quantity": 100,
        "closes": (plant.clock() + timedelta(minutes=30)).isoformat(),
    }
    pool = coop.post("/api/commons/pools", json=body).json()["id"]
    camp = {
        "cooperative": COOP,
        "kind": "expo_booth",
        "title": {"ko": "전시회 부스", "en": "Expo booth"},
        "total_cost_krw": 1_000_000,
        "min_participants": 1,
        "closes": (plant.clock() + timedelta(minutes=30)).isoformat(),
    }
    r = coop.post("/api/commons/campaigns", json=camp)
    assert r.status_code == 201, r.text
    for who in ("acme:owner", "beta:owner"):
        assert (
            plant.client(who).post(f"/api/commons/pools/{pool}/commit", json={"quantity": "60"}).status_code
            == 200
        )
    return {"request_id": request_id, "pool": pool, "campaign": r.json()["id"], "firm_id": "acme"}


def data_texts(plant) -> list[str]:
    """Names, addresses and what people typed: shown as they were written, in any language."""
    db = plant.app.state.commons
    out = {"한국어", "English", "브래킷 / bracket", "강판 공동구매", "전시회 부스"}
    for p in db.all("profile", Profile):
        f = p.facility
        out |= {f.name.ko, f.name.en, f.location.district, f.location.city, f.location.address}
        out |= {places.romanise(f.location.district), f.description.ko if f.description else ""}
    for c in db.all("cooperative", Cooperative):
        out |= {c.name.ko, c.name.en}
    for r in db.all("request", Request):
        out |= {r.title.ko, r.title.en}
    for e in load_experts(db):
        out |= {e.name.ko, e.name.en, e.affiliation, e.region.district if e.region else ""}
    out |= {u.display_name for u in plant.accounts.users()}
    out |= {d.ko for d in places.DISTRICTS} | {k for names in places.CITIES.values() for k in names}
    return sorted((x for x in out if x), key=len, reverse=True)


def english_texts() -> set[str]:
    """English texts of the catalogs and the vocabulary that differ from their Korean, and
    are words (at least two, or one of 5+ letters), without placeholders."""
    found = {p.en for p in PROCESSES.values()} | {m.en for m in MATERIALS.values()}
    for domain in DOMAINS:
        cat = Catalog(domain)
        for k in cat.ids():
            en, ko = cat.get(k, "en"), cat.get(k, "ko")
            if en != ko and "{" not in en:
                found.add(en)
    return {x.strip() for x in found if re.search(r"[A-Za-z]{5,}|[A-Za-z]+ [A-Za-z]+", x)}


def shown_texts(html: str) -> list[str]:
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    html = re.sub(r"<textarea\b[^>]*>.*?</textarea>", "", html, flags=re.S)  # what was typed
    return [x.strip() for x in re.findall(r">([^<>]+)<", html) if x.strip()]


def foreign(texts: list[str], lang: str, data: list[str], english: set[str]) -> list[str]:
    """The texts of the other language on a page of `lang` (and catalog keys shown raw)."""
    bad = []
    for text in texts:
        rest = text
        for d in data:
            if d in rest:
                rest = rest.replace(d, " ")
        if KEY.search(rest) or (lang == "en" and HANGUL.search(rest)):
            bad.append(text)
        elif lang == "ko" and (
            rest.strip() in english or any(e in rest for e in english if " " in e and len(e) > 12)
        ):
            bad.append(text)
    return bad


def test_every_commons_page_speaks_one_language(plant, objects):
    visitor = TestClient(plant.app)
    owner = login(plant, "owner@acme.example")
    manager = login(plant, "office@coop.example")
    params = {**objects, "kind": "pool", "window_id": objects["pool"]}
    pages = sorted(
        p for m, p in _routes(plant.app) if m == "GET" and p.startswith(("/catalog", "/commons", "/signup"))
    )
    assert "/commons/coop" in pages and "/commons/profile/edit" in pages and "/signup" in pages
    seen: list[tuple[str, TestClient, str]] = []
    for template in pages:
        if template.endswith(DOWNLOADS):
            continue
        names = re.findall(r"{(\w+)}", template)
        missing = [n for n in names if n not in params]
        assert not missing, f"{template}: no sample for {missing} here; add one so the page is checked"
        path = template.format(**params)
        if path.startswith(("/catalog", "/signup")):
            seen.append((path, visitor, "visitor"))
        else:
            seen.append((path, owner, "owner"))
            if path.startswith(("/commons/coop", "/commons/pools")):
                seen.append((path, manager, "manager"))
    data, english = data_texts(plant), english_texts()
    failures = []
    for lang in ("ko", "en"):
        for path, client, who in seen:
            client.cookies.set("lang", lang)
            r = client.get(path)
            assert r.status_code in (200, 400), (
                path,
                who,
                r.status_code,
            )  # 400: /signup/verify without a link
            bad = foreign(shown_texts(r.text), lang, data, english)
            if bad:
                failures.append((lang, who, path, bad[:5]))
        # a refused form speaks the page's language too
        owner.cookies.set("lang", lang)
        r = owner.post(
            "/commons/profile/edit",
            data={
                "csrf_token": owner.cookies.get("fc_csrf"),
                "name_ko": "",
                "eq0_process": "milling",
                "eq0_x": "x",
            },
        )
        assert r.status_code == 422
        bad = foreign(shown_texts(r.text), lang, data, english)
        if bad:
            failures.append((lang, "owner", "POST /commons/profile/edit", bad[:5]))
    assert not failures, "\n".join(map(str, failures))


def test_the_check_finds_the_other_language():
    """The check itself: Hangul on an English page, a catalog's English on a Korean page."""
    english = english_texts()
    assert foreign(["Hard constraints met: 공정"], "en", [], english) == ["Hard constraints met: 공정"]
    assert foreign(["에이크미정밀 · Seoul"], "en", ["에이크미정밀"], english) == []  # a name
    assert foreign(["Milling"], "ko", [], english) == ["Milling"]
    assert foreign(["밀링"], "ko", [], english) == []
    assert foreign(["co_nav"], "ko", [], english) == ["co_nav"]  # a key without its text
