"""The text of the web pages comes from the catalogs (factory_commons.i18n), in the page's language.

No Korean or English text written into the templates or the web modules; every key a template or
a web module names is in a catalog its pages read, in both languages; a code (a state, a kind, a
status) shown on a page has a name for each value it can take; the `web` catalog does not repeat
the state and reason-code names of `states`.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest

from factory_commons.cooperate import booking as bk
from factory_commons.cooperate import missions as ms
from factory_commons.cooperate import pools as pl
from factory_commons.cooperate import projects as pj
from factory_commons.i18n import LANGS, Catalog
from factory_commons.model.records import Severity
from factory_commons.server.web.commons import commons_translator
from factory_commons.server.web.dashboard import CATALOGS as DASHBOARD_PAGE_CATALOGS
from factory_commons.server.web.i18n import COMMONS, WEB, lang_name, translator

SERVER = Path(__file__).resolve().parent.parent / "src" / "factory_commons" / "server"
TEMPLATES = sorted((SERVER / "templates").glob("*.html"))
MODULES = sorted((SERVER / "web").glob("*.py"))
HANGUL = re.compile(r"[\uac00-\ud7a3]")
COMMONS_PAGES = {p.name for p in TEMPLATES if p.name.startswith("commons_")} | {"signup.html"}
DASHBOARD_CATALOGS = DASHBOARD_PAGE_CATALOGS  # what the dashboard pages translate with (web/dashboard.py)
COMMONS_CATALOGS = (
    COMMONS,
    WEB,
    Catalog("states"),
    Catalog("kpi"),
    Catalog("commons_terms"),
    Catalog("commons_orders"),
    Catalog("commons_pages"),
)
UPLOAD_CATALOGS = (Catalog("upload"), *DASHBOARD_CATALOGS)  # the upload pages (web/upload.py)
RETROFIT_CATALOGS = (Catalog("retrofit_ui"), *DASHBOARD_CATALOGS)  # the retrofit page (web/retrofit.py)
REGION_CATALOGS = (Catalog("region_ui"), Catalog("region"), *DASHBOARD_CATALOGS)  # web/region.py
KNOWHOW_CATALOGS = (Catalog("knowhow_ui"), *DASHBOARD_CATALOGS)  # the know-how pages (web/knowhow.py)


def _without_comments(html: str) -> str:
    return re.sub(r"\{#.*?#\}", "", html, flags=re.S)


def _known(key: str, catalogs: tuple[Catalog, ...]) -> bool:
    return any(c.has(key) for c in catalogs)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_hold_no_text_of_their_own(path):
    assert not HANGUL.findall(_without_comments(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_web_modules_hold_no_korean_text_outside_docstrings(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    texts = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]
    assert not [s for s in texts if HANGUL.search(s)]


def test_every_key_a_template_names_is_in_a_catalog_of_its_pages():
    missing = []
    for path in TEMPLATES:
        html = _without_comments(path.read_text(encoding="utf-8"))
        is_commons = path.name in COMMONS_PAGES or path.name == "_macros.html"
        catalogs = COMMONS_CATALOGS if is_commons else DASHBOARD_CATALOGS
        catalogs = UPLOAD_CATALOGS if path.name.startswith("upload") else catalogs
        catalogs = RETROFIT_CATALOGS if path.name.startswith("retrofit") else catalogs
        catalogs = REGION_CATALOGS if path.name.startswith("region") else catalogs
        catalogs = KNOWHOW_CATALOGS if path.name.startswith("knowhow") else catalogs
        for key in re.findall(r"\bt\('([^']+)'[,)]", html):
            if not _known(key, catalogs):
                missing.append(f"{path.name}: {key}")
    assert not missing


def test_every_key_a_web_module_names_is_in_a_catalog():
    """Message pages, refusals and form errors are named by key in the Python code."""
    patterns = (
        r"message\(request, \w+, \"(\w+)\"",
        r"Refused\(\"(\w+)\"",
        r"FormError\(\s*\w+, \"(\w+)\"",
        r"FormError\(\"\w+\", \"(\w+)\"",
        r"_parse\(value, field, [^,]+, \"(\w+)\"\)",
        r"err=\"(\w+)\"",
    )
    found = set()
    for path in MODULES:
        source = path.read_text(encoding="utf-8")
        for p in patterns:
            found.update(re.findall(p, source))
    assert {"not_found", "not_allowed", "err_not_integer", "err_no_role", "no_evidence"} <= found
    every = (*COMMONS_CATALOGS, *UPLOAD_CATALOGS, *KNOWHOW_CATALOGS, *REGION_CATALOGS)
    assert not [k for k in sorted(found) if not _known(k, every)]


def _values(model: type, field: str) -> tuple[str, ...]:
    return typing.get_args(model.model_fields[field].annotation)


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("state_", _values(pl.PurchasePool, "state")),
        ("outcome_", _values(pl.Settlement, "outcome")),
        ("kind_", _values(bk.Booking, "kind")),
        ("booking_", _values(bk.Booking, "state")),
        ("problem_", _values(ms.Problem, "status")),
        ("project_", _values(pj.Project, "status")),
        ("mission_", ("scheduled", "running", "ended", "closed")),
    ],
)
def test_every_code_a_commons_page_shows_has_a_name(prefix, values):
    assert values
    for lang in LANGS:
        t = commons_translator(lang)
        assert not [v for v in values if t(prefix + v) == prefix + v], (prefix, lang)


def test_alarm_severities_have_names():
    for lang in LANGS:
        t = translator(lang)
        assert not [s for s in Severity if t(f"severity_{s}") == f"severity_{s}"]


def test_web_does_not_repeat_the_states_catalog_and_commons_does_not_repeat_web():
    states = set(Catalog("states").ids())
    assert not states & set(WEB.ids())
    same = [k for k in set(COMMONS.ids()) & set(WEB.ids()) if COMMONS.pair(k) == WEB.pair(k)]
    assert not same  # a commons key of the same name says something else (e.g. last_days)


def test_translator_order_and_parameters():
    reasons = (("breakdown", "우리 고장", "Our breakdown"), ("tool_break", "공구 파손", "Tool breakage"))
    ko, en = translator("ko", reasons), translator("en", reasons)
    assert ko("breakdown") == "우리 고장" and en("tool_break") == "Tool breakage"  # the firm's own first
    assert ko("running") == "가동" and en("oee") == "OEE"  # then states, kpi
    assert en("no_such_key") == "no_such_key"
    assert en("too_many_logins", wait=30).endswith("30 s")
    assert translator("fr")("login") == ko("login")  # an unsupported language reads Korean
    cko, cen = commons_translator("ko"), commons_translator("en")
    assert cko("last_days") == "최근 일수" and ko("last_days") == "최근"  # commons before web
    assert cen("milling") == "Milling" and cen("not_allowed") == en("not_allowed")
    assert cen("employees_n", n=12) == "12 employees"
    assert [lang_name(c) for c in (*LANGS, "ja")] == ["한국어", "English", "ja"]
