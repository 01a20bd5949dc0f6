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
from rich.table import Table

from ..cli_common import CLI, StoreOpt, cli_text, console, err, mask_url
from ..i18n import Catalog
from .db import default_accounts_path

DatabaseOpt = Annotated[str | None, typer.Option("--database", help=cli_text("opt_database"))]
AccountsOpt = Annotated[str | None, typer.Option("--accounts", help=cli_text("opt_accounts"))]
PasswordStdinOpt = Annotated[bool, typer.Option("--password-stdin", help=cli_text("opt_password_stdin"))]


def accounts_path(store: str, database: str | None, accounts: str | None) -> str:
    """The accounts database: --accounts, else beside the store or in the --database."""
    return accounts or default_accounts_path(database or store)


SEC = Catalog("security")
users_app = typer.Typer(help=cli_text("users_help"), no_args_is_help=True)


@users_app.command("create", help=cli_text("cmd_users_create"))
def users_create(
    firm: Annotated[str, typer.Option(help=cli_text("opt_new_firm"))],
    email: Annotated[str, typer.Option(help=cli_text("opt_login_email"))],
    role: Annotated[str, typer.Option(help=cli_text("opt_role"))],
    enterprise: Annotated[list[str] | None, typer.Option(help=cli_text("opt_enterprise"))] = None,
    name: Annotated[str | None, typer.Option(help=cli_text("opt_display_name"))] = None,
    password_stdin: PasswordStdinOpt = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Create a user (and the firm, when it is new)."""
    from . import ROLES, AccountError, Accounts

    if role not in ROLES:
        err.print(f"[red]{cli_text('unknown_role')}:[/] {role} ({', '.join(ROLES)})")
        raise typer.Exit(2)
    acc = Accounts(accounts_path(store, database, accounts))
    try:
        f = acc.firm_by_name(firm)
        if f is not None and enterprise and set(enterprise) != set(f.enterprises):
            err.print(f"[red]{cli_text('firm_exists')}:[/] {', '.join(f.enterprises)}")
            raise typer.Exit(2)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt(cli_text("password"), hide_input=True, confirmation_prompt=True)
        if f is None:  # the firm and its first user together: a refused password leaves no firm
            f, u = acc.create_firm_with_user(
                firm, list(enterprise or []), email, name or email, role, password
            )
            console.print(
                f"{cli_text('firm_created')}: {f.name} (enterprises: {', '.join(f.enterprises) or '-'})"
            )
        else:
            u = acc.create_user(f.id, email, name or email, role, password)
    except AccountError as e:
        err.print(f"[red]{cli_text('cannot_create')}:[/] {e}")
        raise typer.Exit(2) from None
    finally:
        acc.close()
    console.print(f"{cli_text('user_created')}: {u.email} ({u.role}, firm {f.name}) in {mask_url(acc.path)}")


@users_app.command("list", help=cli_text("cmd_users_list"))
def users_list(
    store: StoreOpt = "factory.duckdb", database: DatabaseOpt = None, accounts: AccountsOpt = None
) -> None:
    """List firms and users."""
    from . import Accounts

    acc = Accounts(accounts_path(store, database, accounts))
    firms = {f.id: f for f in acc.firms()}
    t = Table(
        *(CLI.both(k, "\n") for k in ("col_company", "col_enterprises", "col_email", "col_name", "col_role"))
    )
    for u in acc.users():
        f = firms[u.firm_id]
        t.add_row(f.name, ", ".join(f.enterprises), u.email, u.display_name, u.role)
    acc.close()
    console.print(t)


@users_app.command("token", help=cli_text("cmd_users_token"))
def users_token(
    email: Annotated[str, typer.Option(help=cli_text("opt_token_user"))],
    name: Annotated[str, typer.Option(help=cli_text("opt_token_name"))] = "script",
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Print a new API token (shown once; stored hashed)."""
    from datetime import UTC, datetime

    from . import Accounts

    acc = Accounts(accounts_path(store, database, accounts))
    try:
        user = acc.user_by_email(email)
        if user is None:
            err.print(f"[red]{cli_text('no_such_user')}:[/] {email}")
            raise typer.Exit(2)
        print(acc.create_token(user.id, name, datetime.now(UTC)))
    finally:
        acc.close()


# -- managing users and tokens -----------------------------------------------------------------
EmailArg = Annotated[str, typer.Option("--email", help=cli_text("opt_user_email"))]


@contextmanager
def _user_of(email: str, store: str, database: str | None, accounts: str | None) -> Iterator[tuple]:
    """(accounts database, user) for a command on one user; exit 2 with a message when there is
    no such user or the accounts database refuses the change."""
    from . import AccountError, Accounts

    acc = Accounts(accounts_path(store, database, accounts))
    try:
        user = acc.user_by_email(email)
        if user is None:
            err.print(f"[red]{cli_text('no_such_user')}:[/] {email}")
            raise typer.Exit(2)
        yield acc, user
    except AccountError as e:
        err.print(f"[red]{cli_text('refused')}:[/] {e}")
        raise typer.Exit(2) from None
    finally:
        acc.close()


@users_app.command("set-role", help=cli_text("cmd_users_set_role"))
def users_set_role(
    email: EmailArg,
    role: Annotated[str, typer.Option(help=cli_text("opt_role"))],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Change a user's role (the last active owner of a firm keeps theirs)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        u = acc.update_user(user.id, role=role)
    console.print(f"{cli_text('role_changed')}: {u.email} -> {u.role}")


@users_app.command("rename", help=cli_text("cmd_users_rename"))
def users_rename(
    email: EmailArg,
    name: Annotated[str, typer.Option(help=cli_text("opt_new_name"))],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Change a user's display name."""
    with _user_of(email, store, database, accounts) as (acc, user):
        u = acc.update_user(user.id, display_name=name)
    console.print(f"{cli_text('renamed')}: {u.email} -> {u.display_name}")


@users_app.command("reset-password", help=SEC.both("cmd_reset_password", " / "))
def users_reset_password(
    email: EmailArg,
    password_stdin: PasswordStdinOpt = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Set a new password; the user's sessions end and their API tokens are revoked."""
    with _user_of(email, store, database, accounts) as (acc, user):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt(cli_text("new_password"), hide_input=True, confirmation_prompt=True)
        acc.set_password(user.id, password)
    console.print(f"{cli_text('password_reset')}: {email}")


@users_app.command("change-password", help=SEC.both("cmd_change_password", " / "))
def users_change_password(
    email: EmailArg,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help=SEC.both("opt_two_lines", " / "))
    ] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Change one's own password, giving the current one (stdin: two lines, current then new):
    every session ends and the API tokens are revoked."""
    with _user_of(email, store, database, accounts) as (acc, user):
        if password_stdin:
            old, new = sys.stdin.readline().rstrip("\n"), sys.stdin.readline().rstrip("\n")
        else:
            old = typer.prompt(SEC.both("current_password", " / "), hide_input=True)
            new = typer.prompt(cli_text("new_password"), hide_input=True, confirmation_prompt=True)
        acc.change_password(user.id, old, new)
    console.print(f"{cli_text('password_reset')}: {email}")


@users_app.command("deactivate", help=cli_text("cmd_users_deactivate"))
def users_deactivate(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Deactivate a user: no login; sessions and API tokens end at once."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.update_user(user.id, active=False)
    console.print(f"{cli_text('deactivated')}: {email}")


@users_app.command("activate", help=cli_text("cmd_users_activate"))
def users_activate(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Let a deactivated user log in again (old API tokens stay revoked)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.update_user(user.id, active=True)
    console.print(f"{cli_text('activated')}: {email}")


@users_app.command("delete", help=cli_text("cmd_users_delete"))
def users_delete(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Delete a user who has no grants or audit records (otherwise: deactivate)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        acc.delete_user(user.id)
    console.print(f"{cli_text('deleted')}: {email}")


@users_app.command("tokens", help=cli_text("cmd_users_tokens"))
def users_tokens(
    email: EmailArg,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """List a user's API tokens (id, name, created, last used)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        tokens = acc.tokens(user.id)
    t = Table("id", *(CLI.both(k, "\n") for k in ("col_name", "col_created", "col_last_used")))
    for tok in tokens:
        last = tok["last_used"].isoformat(timespec="minutes") if tok["last_used"] else "-"
        t.add_row(tok["id"], tok["name"], tok["created"].isoformat(timespec="minutes"), last)
    console.print(t)


@users_app.command("revoke-token", help=cli_text("cmd_users_revoke_token"))
def users_revoke_token(
    email: EmailArg,
    token_id: Annotated[str, typer.Option("--id", help=cli_text("opt_token_id"))],
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Revoke one of a user's API tokens (it fails with 401 from now on)."""
    with _user_of(email, store, database, accounts) as (acc, user):
        if not acc.revoke_token(user.id, token_id):
            err.print(f"[red]{cli_text('no_such_token', email=email)}:[/] {token_id}")
            raise typer.Exit(2)
    console.print(f"{cli_text('revoked')}: {token_id}")


@users_app.command("stop-reasons", help=cli_text("cmd_users_stop_reasons"))
def users_stop_reasons(
    firm: Annotated[str, typer.Option(help=cli_text("opt_firm"))],
    set_file: Annotated[Path | None, typer.Option("--set", help=cli_text("opt_stop_reasons_file"))] = None,
    reset: Annotated[bool, typer.Option("--reset", help=cli_text("opt_reset_reasons"))] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """Show or set the stop reasons a firm's operators pick from."""
    from . import Accounts
    from .stop_reasons import DEFAULT_STOP_REASONS, check_stop_reasons, firm_stop_reasons, parse_reason_lines

    acc = Accounts(accounts_path(store, database, accounts))
    try:
        f = acc.firm_by_name(firm)
        if f is None:
            err.print(f"[red]{cli_text('no_such_firm')}:[/] {firm}")
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
        *(CLI.both(k, "\n") for k in ("col_code", "col_korean", "col_english")),
        title=f"{f.name} ({cli_text('own_list' if own else 'defaults')})",
    )
    for code, ko, en in reasons:
        t.add_row(code, ko, en)
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `users` to `app`."""
    app.add_typer(users_app, name="users")
