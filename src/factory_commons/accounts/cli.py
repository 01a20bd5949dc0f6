"""Command-line commands for tenancy: `users` (create, list, token, set-role, rename,
reset-password, deactivate, activate, delete, tokens, revoke-token, stop-reasons).

`register(app)` adds them to the main `factory-commons` app.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

StoreOpt = Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="PostgreSQL URL (postgresql://...); replaces --store / PostgreSQL 주소"),
]
AccountsOpt = Annotated[
    str | None,
    typer.Option(
        "--accounts",
        help="accounts database (SQLite file or postgresql:// URL); default: <store>.accounts.sqlite, "
        "or schema fc_accounts of the --database / 계정 데이터베이스",
    ),
]


def _accounts_path(store: str, database: str | None, accounts: str | None) -> str:
    from .db import default_accounts_path

    return accounts or default_accounts_path(database or store)


users_app = typer.Typer(help="회사·사용자 관리 / firms, users and API tokens.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    firm: Annotated[str, typer.Option(help="firm name (created if new) / 회사 이름")],
    email: Annotated[str, typer.Option(help="login e-mail / 로그인 이메일")],
    role: Annotated[str, typer.Option(help="owner, engineer, operator, expert, regional_analyst, hub_admin")],
    enterprise: Annotated[
        list[str] | None,
        typer.Option(
            help="enterprise(s) a new firm owns: first segment of machine paths / 소유 기업(경로 첫 단계)"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="display name / 표시 이름")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """사용자 만들기 / create a user (and the firm, when it is new)."""
    from . import ROLES, AccountError, Accounts

    if role not in ROLES:
        err.print(f"[red]역할 오류 / unknown role:[/] {role} ({', '.join(ROLES)})")
        raise typer.Exit(2)
    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        f = acc.firm_by_name(firm)
        if f is None:
            f = acc.create_firm(firm, list(enterprise or []))
            console.print(
                f"회사 생성 / firm created: {f.name} (enterprises: {', '.join(f.enterprises) or '-'})"
            )
        elif enterprise and set(enterprise) != set(f.enterprises):
            err.print(
                f"[red]회사가 이미 있습니다 / firm exists with enterprises:[/] {', '.join(f.enterprises)}"
            )
            raise typer.Exit(2)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("비밀번호 / password", hide_input=True, confirmation_prompt=True)
        u = acc.create_user(f.id, email, name or email, role, password)
    except AccountError as e:
        err.print(f"[red]만들 수 없습니다 / cannot create:[/] {e}")
        raise typer.Exit(2) from None
    finally:
        acc.close()
    console.print(f"사용자 생성 / user created: {u.email} ({u.role}, firm {f.name}) in {acc.path}")


@users_app.command("list")
def users_list(
    store: StoreOpt = "factory.duckdb", database: DatabaseOpt = None, accounts: AccountsOpt = None
) -> None:
    """사용자 목록 / list firms and users."""
    from . import Accounts

    acc = Accounts(_accounts_path(store, database, accounts))
    firms = {f.id: f for f in acc.firms()}
    t = Table("회사\nfirm", "기업\nenterprises", "이메일\ne-mail", "이름\nname", "역할\nrole")
    for u in acc.users():
        f = firms[u.firm_id]
        t.add_row(f.name, ", ".join(f.enterprises), u.email, u.display_name, u.role)
    acc.close()
    console.print(t)


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Option(help="the user the token acts as / 토큰 사용자")],
    name: Annotated[str, typer.Option(help="what the token is for / 용도")] = "script",
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """API 토큰 발급 / print a new API token (shown once; stored hashed)."""
    from datetime import UTC, datetime

    from . import Accounts

    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        user = acc.user_by_email(email)
        if user is None:
            err.print(f"[red]사용자가 없습니다 / no such user:[/] {email}")
            raise typer.Exit(2)
        print(acc.create_token(user.id, name, datetime.now(UTC)))
    finally:
        acc.close()


# -- managing users and tokens -----------------------------------------------------------------
EmailArg = Annotated[str, typer.Option("--email", help="the user's login e-mail / 사용자 이메일")]


@contextmanager
def _user_of(email: str, store: str, database: str | None, accounts: str | None) -> Iterator[tuple]:
    """(accounts database, user) for a command on one user; exit 2 with a message when there is
    no such user or the accounts database refuses the change."""
    from . import AccountError, Accounts

    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        user = acc.user_by_email(email)
        if user is None:
            err.print(f"[red]사용자가 없습니다 / no such user:[/] {email}")
            raise typer.Exit(2)
        yield acc, user
    except AccountError as e:
        err.print(f"[red]바꿀 수 없습니다 / refused:[/] {e}")
        raise typer.Exit(2) from None
    finally:
        acc.close()


@users_app.command("set-role")
def users_set_role(
    email: EmailArg,
    role: Annotated[str, typer.Option(help="owner, engineer, operator, expert, regional_analyst, hub_admin")],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """역할 변경 / change a user's role (the last active owner of a firm keeps theirs)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        u = acc.update_user(user.id, role=role)
    console.print(f"역할 변경 / role changed: {u.email} -> {u.role}")


@users_app.command("rename")
def users_rename(
    email: EmailArg,
    name: Annotated[str, typer.Option(help="new display name / 새 표시 이름")],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """표시 이름 변경 / change a user's display name."""
    with _user_of(email, store, database, accounts) as (acc, user):
        u = acc.update_user(user.id, display_name=name)
    console.print(f"이름 변경 / renamed: {u.email} -> {u.display_name}")


@users_app.command("reset-password")
def users_reset_password(
    email: EmailArg,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """비밀번호 재설정 / set a new password; the user's sessions end (API tokens stay)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("새 비밀번호 / new password", hide_input=True, confirmation_prompt=True)
        acc.set_password(user.id, password)
    console.print(f"비밀번호 변경 / password reset: {email}")


@users_app.command("deactivate")
def users_deactivate(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """비활성화 / deactivate a user: no login; sessions and API tokens end at once."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.update_user(user.id, active=False)
    console.print(f"비활성화 / deactivated: {email}")


@users_app.command("activate")
def users_activate(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """다시 활성화 / let a deactivated user log in again (old API tokens stay revoked)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.update_user(user.id, active=True)
    console.print(f"활성화 / activated: {email}")


@users_app.command("delete")
def users_delete(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """삭제 / delete a user who has no grants or audit records (otherwise: deactivate)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.delete_user(user.id)
    console.print(f"삭제 / deleted: {email}")


@users_app.command("tokens")
def users_tokens(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """API 토큰 목록 / list a user's API tokens (id, name, created, last used)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        tokens = acc.tokens(user.id)
    t = Table("id", "이름\nname", "발급\ncreated", "마지막 사용\nlast used")
    for tok in tokens:
        last = tok["last_used"].isoformat(timespec="minutes") if tok["last_used"] else "-"
        t.add_row(tok["id"], tok["name"], tok["created"].isoformat(timespec="minutes"), last)
    console.print(t)


@users_app.command("revoke-token")
def users_revoke_token(
    email: EmailArg,
    token_id: Annotated[str, typer.Option("--id", help="token id from `users tokens` / 토큰 id")],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """API 토큰 폐기 / revoke one of a user's API tokens (it fails with 401 from now on)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        if not acc.revoke_token(user.id, token_id):
            err.print(f"[red]토큰이 없습니다 / no such token of {email}:[/] {token_id}")
            raise typer.Exit(2)
    console.print(f"폐기 / revoked: {token_id}")


@users_app.command("stop-reasons")
def users_stop_reasons(
    firm: Annotated[str, typer.Option(help="firm name / 회사 이름")],
    set_file: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help="file with one reason per line: code | 한국어 | English (UTF-8 or CP949) / 사유 목록 파일",
        ),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="back to the default list / 기본 목록으로")] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """정지 사유 목록 / show or set the stop reasons a firm's operators pick from."""
    from . import Accounts
    from .stop_reasons import DEFAULT_STOP_REASONS, check_stop_reasons, firm_stop_reasons, parse_reason_lines

    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        f = acc.firm_by_name(firm)
        if f is None:
            err.print(f"[red]회사가 없습니다 / no such firm:[/] {firm}")
            raise typer.Exit(2)
        if reset:
            acc.set_stop_reasons(f.id, None)
        elif set_file is not None:
            raw = set_file.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp949")
            items, errors = parse_reason_lines(text)
            reasons, problems = check_stop_reasons(items)
            errors += [
                f"{set_file}:{items[p.index]['line'] if p.index < len(items) else '-'}: {p.field}: {p.why}"
                for p in problems
            ]
            if errors:
                for e in errors:
                    err.print(f"[red]{e}[/]")
                raise typer.Exit(2)
            acc.set_stop_reasons(f.id, reasons)
        reasons = firm_stop_reasons(acc, f.id, DEFAULT_STOP_REASONS)
        own = acc.stop_reasons(f.id) is not None
    finally:
        acc.close()
    t = Table(
        "코드\ncode", "한국어", "English", title=f"{f.name} ({'own list' if own else 'defaults / 기본'})"
    )
    for code, ko, en in reasons:
        t.add_row(code, ko, en)
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `users` to `app`."""
    app.add_typer(users_app, name="users")
