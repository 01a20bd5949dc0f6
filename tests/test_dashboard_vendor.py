"""The dashboard's chart library is vendored, unchanged, and no page loads anything from another site.

uPlot comes from the npm registry (scripts/vendor_web_assets.sh: `npm pack`, the tarball checked
against the registry's sha512, three files extracted); server/static/vendor/uplot/manifest.json
records the version, the tarball's integrity and each file's sha256. A file that differs from
the manifest, or a template that links a script or stylesheet on http(s)://, fails here.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "src" / "factory_commons" / "server"
VENDOR = SERVER / "static" / "vendor" / "uplot"
REPORT = Path(__file__).resolve().parent.parent / "src" / "factory_commons" / "report"
MANIFEST = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
#: a script, stylesheet, image or frame loaded from another site (a namespace URI is not loaded)
REMOTE = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)
REMOTE_IMPORT = re.compile(r"(?:@import|url\()\s*[\"']?(?:https?:)?//|fetch\(\s*[\"'](?:https?:)?//")


@pytest.mark.parametrize("name", sorted(MANIFEST["files"]))
def test_vendored_files_match_the_manifest(name):
    algo, digest = MANIFEST["files"][name].split(":", 1)
    assert algo == "sha256"
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_manifest_names_the_npm_package_and_its_integrity():
    assert MANIFEST["package"] == "uplot" and re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["version"])
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", MANIFEST["tarball_integrity"])
    assert MANIFEST["license"] == "MIT" and "MIT License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert f"uplot@{MANIFEST['version']}" in (VENDOR / "README.md").read_text(encoding="utf-8")
    assert set(p.name for p in VENDOR.iterdir()) == {*MANIFEST["files"], "manifest.json", "README.md"}


def test_a_changed_file_is_caught(tmp_path):
    """The check can fail: one byte more and the digest differs."""
    changed = (VENDOR / "uPlot.iife.min.js").read_bytes() + b"\n"
    digest = MANIFEST["files"]["uPlot.iife.min.js"].split(":", 1)[1]
    assert hashlib.sha256(changed).hexdigest() != digest


def test_no_page_loads_from_another_site():
    files = [
        *SERVER.glob("templates/*.html"),
        *(SERVER / "static").glob("*.js"),
        *(SERVER / "static").glob("*.css"),
    ]
    files += [REPORT / "html.py"]
    assert len(files) > 20
    found = [f"{p.name}: {m.group(0)}" for p in files for m in REMOTE.finditer(p.read_text(encoding="utf-8"))]
    found += [
        f"{p.name}: {m.group(0)}"
        for p in files
        for m in REMOTE_IMPORT.finditer(p.read_text(encoding="utf-8"))
    ]
    assert not found
    assert REMOTE.search('<script src="https://cdn.example/x.js">')  # the pattern does catch one
    assert REMOTE.search("<link rel=stylesheet href=//cdn.example/x.css>")


def test_the_chart_pages_load_the_vendored_library():
    macros = (SERVER / "templates" / "_range.html").read_text(encoding="utf-8")
    assert '<script defer src="/static/vendor/uplot/uPlot.iife.min.js">' in macros
    assert 'href="/static/vendor/uplot/uPlot.min.css"' in macros
    for page in ("oee.html", "machine.html"):
        assert "r.chart_scripts()" in (SERVER / "templates" / page).read_text(encoding="utf-8"), page
