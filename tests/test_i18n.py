"""The gettext catalogs: every id has a Korean and an English text, every `.mo` is compiled from
its `.po`, every key the code asks for exists, and states and reason codes have names."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("babel")

from factory_commons.i18n import (  # noqa: E402
    LANGS,
    Catalog,
    display,
    domains,
    tools,  # noqa: E402
)

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "factory_commons"
HANGUL = re.compile("[\uac00-\ud7a3]")


# -- (a) the catalogs are complete and compiled ----------------------------------------------
def test_every_catalog_has_both_texts_and_a_current_mo():
    found = tools.problems()
    assert not found, (
        "catalog problems (fix the .po, then python -m factory_commons.i18n compile):\n" + "\n".join(found)
    )


def test_the_catalogs_this_code_reads_exist():
    assert {
        "kpi",
        "states",
        "cli",
        "spc",
        "commons_terms",
        "commons_errors",
        "web",
        "commons",
        "api",
        "accounts",
        "collect",
        "ai",
        "store",
    } <= set(domains())


# -- (b) the check can fail ------------------------------------------------------------------
def _write_po(path: Path, lang: str, texts: dict[str, str], compile_mo: bool = True) -> None:
    from babel.messages.catalog import Catalog as BabelCatalog
    from babel.messages.pofile import write_po

    cat = BabelCatalog(locale=lang, domain="demo", project="t", fuzzy=False)
    for key, text in texts.items():
        cat.add(key, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, cat)
    if compile_mo:
        path.with_suffix(".mo").write_bytes(tools.mo_bytes(tools.read_catalog(path)))


def test_problems_reports_a_missing_text_a_missing_id_and_a_stale_mo(tmp_path, monkeypatch):
    monkeypatch.setattr(tools, "LOCALE_DIR", tmp_path)
    ko = tmp_path / "ko" / "LC_MESSAGES" / "demo.po"
    en = tmp_path / "en" / "LC_MESSAGES" / "demo.po"
    _write_po(ko, "ko", {"running": "가동", "idle": "대기"})
    _write_po(en, "en", {"running": "Running", "idle": "Idle"})
    assert tools.problems() == []

    _write_po(en, "en", {"running": "Running", "idle": ""})  # no English text
    found = tools.problems()
    assert any("'idle' has no en text" in p for p in found), found

    _write_po(en, "en", {"running": "Running"})  # the id is in Korean only
    found = tools.problems()
    assert any("'idle' is missing" in p and p.startswith("demo/en") for p in found), found

    _write_po(en, "en", {"running": "Running", "idle": "Idle"})
    _write_po(ko, "ko", {"running": "가동", "idle": "대기 중"}, compile_mo=False)  # .po edited, not compiled
    found = tools.problems()
    assert any("demo/ko" in p and "not compiled" in p for p in found), found


# -- (c) every key the code asks for exists --------------------------------------------------
#: catalog methods that take a message id first
METHODS = {"get", "both", "pair", "has"}
#: functions of the package that take a message id of a fixed domain, by their defining module
FUNCTIONS = {
    ("factory_commons.i18n", "label"): "kpi",
    ("factory_commons.i18n", "display"): "states",
    ("factory_commons.cli_common", "cli_text"): "cli",
    ("factory_commons.report.console", "head"): "kpi",
    ("factory_commons.spc.charts", "_text"): "spc",
    ("factory_commons.spc.cli", "_head"): "cli",
    ("factory_commons.cooperate.cli", "_t"): "cli",
    ("factory_commons.server.auth", "api_text"): "api",
    ("factory_commons.accounts.db", "accounts_text"): "accounts",
    ("factory_commons.collect.files_read", "collect_text"): "collect",
    ("factory_commons.collect.files_read", "collect_text_english_first"): "collect",
    ("factory_commons.collect.files_guess_read", "guess_text"): "guess",
    ("factory_commons.collect.files_mapping", "importer_text"): "importer",
    ("factory_commons.collect.master_files", "master_text"): "master",
    ("factory_commons.collect.master_cli", "_t"): "master",
    ("factory_commons.cooperate.model", "msg"): "commons_errors",
    ("factory_commons.cooperate.model", "msg_pair"): "commons_errors",
    ("factory_commons.cooperate.model", "msg_both"): "commons_errors",
    ("factory_commons.retrofit.text", "retrofit_error"): "retrofit",
}
ANY_DOMAIN = "*"  # N_("code") marks an id of some catalog


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _catalog_domain(node: ast.AST) -> str | None:
    """'d' for `Catalog("d")`."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Catalog"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def used_keys(root: Path) -> list[tuple[str, str, str]]:
    """(domain, key, 'file:line') for every literal message id the source under `root` asks for:
    `Catalog("d").get("k")`, `NAME.both("k")` / `NAME("k")` where NAME = Catalog("d") (here or
    imported), `label("k")`, `display("k")`, `cli_text("k")` and `N_("k")` (domain '*')."""
    files = sorted(root.rglob("*.py"))
    trees = {f: ast.parse(f.read_text(encoding="utf-8")) for f in files}
    catalogs: dict[str, dict[str, str]] = {}  # module -> {name: domain} of its Catalog(...) names
    for f, tree in trees.items():
        mod = _module_name(f, root)
        for node in tree.body:
            if isinstance(node, ast.Assign) and (domain := _catalog_domain(node.value)):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        catalogs.setdefault(mod, {})[t.id] = domain
    out: list[tuple[str, str, str]] = []
    for f, tree in trees.items():
        mod = _module_name(f, root)
        names = dict(catalogs.get(mod, {}))
        funcs = {name: d for (m, name), d in FUNCTIONS.items() if m == mod}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = _resolve(mod, f.name == "__init__.py", node)
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name in catalogs.get(src, {}):
                        names[local] = catalogs[src][alias.name]
                    if (src, alias.name) in FUNCTIONS:
                        funcs[local] = FUNCTIONS[(src, alias.name)]
                    if alias.name == "N_":
                        funcs[local] = ANY_DOMAIN
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue  # a key computed at run time: see the tests of the code tables below
            fn, domain = node.func, None
            if isinstance(fn, ast.Attribute) and fn.attr in METHODS:
                if isinstance(fn.value, ast.Name):
                    domain = names.get(fn.value.id)
                else:
                    domain = _catalog_domain(fn.value)
            elif isinstance(fn, ast.Name):
                domain = names.get(fn.id) or funcs.get(fn.id)
            if domain is not None:
                out.append((domain, first.value, f"{f.relative_to(root)}:{node.lineno}"))
    return out


def _missing(uses: list[tuple[str, str, str]]) -> list[str]:
    every = {d: set(Catalog(d).ids()) for d in domains()}
    bad = []
    for domain, key, where in uses:
        known = set().union(*every.values()) if domain == ANY_DOMAIN else every.get(domain, set())
        if key not in known:
            bad.append(f"{where}: {domain}/{key!r}")
    return bad


def test_every_message_id_the_code_asks_for_exists():
    uses = used_keys(SRC)
    assert len(uses) > 150, f"the scan found only {len(uses)} uses: is it still reading the code?"
    assert {d for d, _, _ in uses} >= {"kpi", "states", "cli", "*"}
    bad = _missing(uses)
    assert not bad, "message ids the code asks for but no catalog has:\n" + "\n".join(bad)


def test_the_scan_finds_a_missing_key(tmp_path):
    pkg = tmp_path / "factory_commons"
    (pkg / "i18n").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "i18n" / "__init__.py").write_text("def label(k):\n    return k\n")
    (pkg / "cli_common.py").write_text('from .i18n import Catalog\nCLI = Catalog("cli")\n')
    (pkg / "a.py").write_text(
        "from .cli_common import CLI\nfrom .i18n import N_, label\n"
        'X = (N_("running"), N_("no_such_code"))\n'
        'label("oee")\nlabel("no_such_kpi")\nCLI.both("store_not_found")\nCLI.get("no_such_cli_text", "ko")\n'
    )
    uses = used_keys(tmp_path)
    assert len(uses) == 6
    assert {u.split(": ")[1] for u in _missing(uses)} == {
        "*/'no_such_code'",
        "kpi/'no_such_kpi'",
        "cli/'no_such_cli_text'",
    }


# -- code tables whose names come from a catalog by a computed key ---------------------------
def _named(catalog: Catalog, code: str) -> bool:
    return catalog.has(code) and all(catalog.get(code, lang) for lang in LANGS)


def test_every_code_of_the_commons_tables_has_a_name():
    from factory_commons.cooperate import experts, projects
    from factory_commons.cooperate.match import WEIGHTS

    terms = Catalog("commons_terms")
    codes = [*experts.TOPIC_CODES, *experts.EXPERT_KINDS, *projects.ROLE_CODES, *WEIGHTS]
    assert [c for c in codes if not _named(terms, c)] == []
    assert experts.skill_label("spc", "en") == "Statistical process control (SPC)"
    assert experts.kind_label("university_lab", "ko") == "대학 연구실"
    # the projects page reads the role names as a mapping code -> (Korean, English)
    assert list(projects.role_names()) == list(projects.ROLE_CODES)
    assert projects.role_names()["maker"] == ("제조 파트너", "Maker")


def test_every_chart_connector_health_and_collection_event_has_a_name():
    from factory_commons.collect.connector import HealthState

    charts = ast.parse((SRC / PACKAGE / "spc" / "charts.py").read_text(encoding="utf-8"))
    names = {
        n.args[0].value
        for n in ast.walk(charts)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Chart" and n.args
        if isinstance(n.args[0], ast.Constant)
    }
    assert names == {"xbar", "r", "s", "i", "mr", "p", "np", "c", "u"}
    assert [c for c in names if not _named(Catalog("spc"), c)] == []
    states = Catalog("states")
    assert [h for h in HealthState if not _named(states, h.value)] == []
    events = set()
    for f in (SRC / PACKAGE / "collect").rglob("*.py"):
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "log_event":
                if len(n.args) > 1 and isinstance(n.args[1], ast.Constant):
                    events.add(n.args[1].value)
    assert events >= {"gap", "late", "stale", "rebirth"}
    assert [e for e in events if not _named(states, e)] == []


# -- (d) states and reason codes have names, not codes ---------------------------------------
def _simulator_reason_codes() -> set[str]:
    from factory_commons.collect.simulator import LINES, FactorySimulator, default_calendar
    from factory_commons.store import open_store

    codes = set()
    for line in LINES:
        codes |= {m.code for m in line.modes} | set(line.micro_reasons) | set(line.scrap_reasons)
    codes |= {b.name for s in default_calendar().shifts for b in s.breaks}
    sim = FactorySimulator(seed=3, start=datetime(2026, 11, 2, tzinfo=UTC), days=2, signal_interval_s=3600)
    with open_store(":memory:") as store:
        sim.write_to(store)
        for sql in (
            "SELECT DISTINCT reason_code AS c FROM states",
            "SELECT DISTINCT scrap_reason AS c FROM counts",
        ):
            codes |= {c for c in store.query(sql).column("c").to_pylist() if c}
    return codes


def test_states_and_reason_codes_have_a_name_in_both_languages():
    from factory_commons.kpi import DEFAULT_STATE_MAP

    states = {key.partition(":")[0] for key in DEFAULT_STATE_MAP}
    reasons = {key.partition(":")[2] for key in DEFAULT_STATE_MAP if ":" in key}
    reasons |= _simulator_reason_codes()
    assert {"running", "unplanned_down"} <= states and {"changeover", "lunch", "no_operator"} <= reasons
    bad = []
    for code in sorted(states | reasons | {"micro_stop"}):
        ko, en = display(code, "ko"), display(code, "en")
        if ko == code or en == code or not HANGUL.search(ko) or HANGUL.search(en):
            bad.append(f"{code}: {ko!r} / {en!r}")
    assert not bad, "states or reason codes without a display name:\n" + "\n".join(bad)
    assert (
        display(None, "en") == "No reason" and display("전원 차단", "ko") == "전원 차단"
    )  # unknown: as it is


def test_a_catalog_without_a_creation_date_compiles_the_same_at_any_time(tmp_path):
    """Babel dates an undated header 'now': the .mo must not change from minute to minute."""
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr ""\n"Language: ko\\n"\n\nmsgid "a"\nmsgstr "가"\n', encoding="utf-8")
    first = tools.read_catalog(po)
    assert first.creation_date == tools.UNDATED
    assert tools.mo_bytes(first) == tools.mo_bytes(tools.read_catalog(po))
