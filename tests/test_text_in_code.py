"""User-facing text is in the catalogs, not in the code: no Korean string literal in a module
outside the few that hold data (sample firms, the simulator's machine names, the vocabulary).

A Korean literal in code is a message that a translator cannot reach and a third language
would miss; put it in a catalog under src/factory_commons/i18n/locale/ (docs/layout.md,
"Text"). Docstrings and comments are not messages and are not counted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "factory_commons"
HANGUL = re.compile("[\uac00-\ud7a3]")
#: a character range in a regular expression (`[가-힣]` finds Korean text) is not a message
HANGUL_RANGE = re.compile("[\uac00-\ud7a3]-[\uac00-\ud7a3]")

#: modules whose Korean literals are data, not messages: names of generated firms, districts and
#: experts, the demo plant's machine names, the controlled vocabulary's own names (DIN 8580
#: processes, materials), which travel with the profiles they describe, and the Korean words the
#: file importer recognises in a shop's own spreadsheets (오전/오후, 발생/해제, 경고/심각)
DATA_MODULES = {
    "collect/files_values.py",
    "collect/master_words.py",  # the column names and units master files are recognised by
    "collect/files_guess_words.py",  # the header and state words the import guesser knows
    "cooperate/sample.py",
    "cooperate/vocab.py",
    "cooperate/places.py",  # the districts of Seoul and Incheon with their romanised names
    "cooperate/experts.py",
    "cooperate/cli.py",
    "collect/simulator.py",
    "knowhow/thesaurus.py",  # the shop-floor words a know-how search recognises
    "region/survey_words.py",  # the Korean headers and answers a survey file is recognised by
    "region/sample.py",  # the sample region's programme names
}


#: module constants whose Korean words are data: the words a name is recognised by
DATA_CONSTANTS = {
    ("collect/opcua_browse.py", "COUNTER_NAME"),  # 수량, 생산량: a node named like a counter
    ("cooperate/romanise.py", "KNOWN"),  # Korean place names with their settled English names
    ("cooperate/romanise.py", "UNITS"),  # administrative units (구, 동, ...) and their romanisation
    ("cooperate/romanise.py", "COMPANY"),  # (주), the company mark in a firm's name
    ("knowhow/files.py", "HEADER_WORDS"),  # the Korean headers of work-order exports
    ("knowhow/files.py", "_DATE"),  # 2023년 3월 14일: the date words of those exports
}


def _data_constant_nodes(tree: ast.Module, rel: str) -> set[int]:
    ids: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and (rel, t.id) in DATA_CONSTANTS for t in targets):
                ids |= {id(n) for n in ast.walk(node)}
    return ids


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def korean_literals(path: Path, rel: str = "") -> list[tuple[int, str]]:
    """(line, text) of every string literal with Hangul that is not a docstring or data."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = _docstring_nodes(tree) | _data_constant_nodes(tree, rel)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if HANGUL.search(HANGUL_RANGE.sub("", node.value)):
                found.append((node.lineno, node.value))
    return sorted(found)


def test_no_korean_message_is_written_in_the_code():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in DATA_MODULES:
            continue
        bad += [f"{rel}:{line}: {text[:60]!r}" for line, text in korean_literals(path, rel)]
    assert not bad, "Korean text written in code (move it to a catalog):\n" + "\n".join(bad)


def test_the_scan_finds_a_literal_but_not_a_docstring_or_comment(tmp_path):
    p = tmp_path / "m.py"
    p.write_text(
        '"""모듈 설명."""\n# 주석\ndef f():\n    """함수 설명."""\n    return f"저장소가 없습니다: {1}"\n'
        'KOREAN = "[가-힣]"\n',
        encoding="utf-8",
    )
    found = korean_literals(p)
    assert [line for line, _ in found] == [5]
    assert "저장소" in found[0][1]
