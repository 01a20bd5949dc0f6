"""`factory-commons users ...`: role, name, password, (de)activate, delete, tokens, stop reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from factory_commons.accounts import Accounts
from factory_commons.cli import app

PW = "pw-12345678"


def _run(store: str, *args: str, input: str | None = None):
    r = CliRunner().invoke(app, ["users", *args, "--store", store], input=input)
    r.flat = " ".join(r.output.split())  # Rich wraps long lines
    return r


def _setup(tmp_path) -> str:
    store = str(tmp_path / "plant.duckdb")
    for email, role in (("kim@acme.kr", "owner"), ("lee@acme.kr", "operator")):
        args = ["create", "--firm", "acme", "--enterprise", "acme", "--email", email, "--role", role]
        r = _run(store, *args, "--password-stdin", input=PW + "\n")
        assert r.exit_code == 0, r.output
    return store


def test_users_role_name_password_and_activation(tmp_path):
    store = _setup(tmp_path)
    assert _run(store, "set-role", "--email", "lee@acme.kr", "--role", "engineer").exit_code == 0
    assert _run(store, "rename", "--email", "lee@acme.kr", "--name", "이영희").exit_code == 0
    r = _run(store, "set-role", "--email", "lee@acme.kr", "--role", "boss")
    assert r.exit_code == 2 and "unknown role" in r.output
    r = _run(store, "set-role", "--email", "kim@acme.kr", "--role", "operator")
    assert r.exit_code == 2 and "last active owner" in r.flat
    assert _run(store, "deactivate", "--email", "nobody@acme.kr").exit_code == 2
    assert (
        _run(store, "reset-password", "--email", "lee@acme.kr", "--password-stdin", input="short\n").exit_code
        == 2
    )
    r = _run(store, "reset-password", "--email", "lee@acme.kr", "--password-stdin", input="새-비밀번호-1\n")
    assert r.exit_code == 0, r.output
    acc = Accounts(store + ".accounts.sqlite")
    u = acc.user_by_email("lee@acme.kr")
    assert (u.role, u.display_name) == ("engineer", "이영희")
    assert acc.authenticate("lee@acme.kr", "새-비밀번호-1") and not acc.authenticate("lee@acme.kr", PW)
    token = acc.create_token(u.id, "plc", datetime.now(UTC))
    acc.close()
    assert _run(store, "deactivate", "--email", "lee@acme.kr").exit_code == 0
    acc = Accounts(store + ".accounts.sqlite")
    assert acc.token_user(token) is None and acc.authenticate("lee@acme.kr", "새-비밀번호-1") is None
    acc.close()
    assert _run(store, "activate", "--email", "lee@acme.kr").exit_code == 0
    assert _run(store, "delete", "--email", "lee@acme.kr").exit_code == 0
    listed = _run(store, "list").output
    assert "kim@acme.kr" in listed and "lee@acme.kr" not in listed


def test_users_tokens_list_and_revoke(tmp_path):
    store = _setup(tmp_path)
    tok = _run(store, "token", "--email", "lee@acme.kr", "--name", "게이트웨이").output.strip()
    r = _run(store, "tokens", "--email", "lee@acme.kr")
    assert r.exit_code == 0 and "게이트웨이" in r.output and tok not in r.output
    acc = Accounts(store + ".accounts.sqlite")
    tid = acc.tokens(acc.user_by_email("lee@acme.kr").id)[0]["id"]
    acc.close()
    assert tid in r.output
    assert _run(store, "revoke-token", "--email", "kim@acme.kr", "--id", tid).exit_code == 2  # not kim's
    assert _run(store, "revoke-token", "--email", "lee@acme.kr", "--id", tid).exit_code == 0
    acc = Accounts(store + ".accounts.sqlite")
    assert acc.token_user(tok) is None
    acc.close()


def test_users_stop_reasons_from_a_cp949_file(tmp_path):
    store = _setup(tmp_path)
    assert "die_change" in _run(store, "stop-reasons", "--firm", "acme").output
    f = tmp_path / "reasons.txt"
    f.write_bytes(
        "tool_break | 공구 파손 | Tool breakage\nwait_crane | 크레인 대기 | Waiting for crane\n".encode(
            "cp949"
        )
    )
    r = _run(store, "stop-reasons", "--firm", "acme", "--set", str(f))
    assert r.exit_code == 0, r.output
    assert "공구 파손" in r.output and "die_change" not in r.output
    bad = tmp_path / "bad.txt"
    bad.write_text("a | 가 | A\na | 나 | B\n", encoding="utf-8")
    r = _run(store, "stop-reasons", "--firm", "acme", "--set", str(bad))
    assert r.exit_code == 2 and "bad.txt:2:" in r.output.replace("\n", "") and "duplicate code" in r.flat
    assert "공구 파손" in _run(store, "stop-reasons", "--firm", "acme").output  # unchanged
    assert "die_change" in _run(store, "stop-reasons", "--firm", "acme", "--reset").output
    assert _run(store, "stop-reasons", "--firm", "nope").exit_code == 2
