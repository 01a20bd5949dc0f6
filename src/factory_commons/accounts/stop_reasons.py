"""Stop reasons: recording why a machine stopped, and each firm's list of reasons to pick from.

The reason is a code on the state change that began the stop.

The reason is set through the Store interface (`Store.set_state_reason`), so it works the same
on the embedded DuckDB file, PostgreSQL and a RemoteStore that talks to the file's owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..i18n import STATES
from ..store.base import Store
from .db import Accounts, accounts_text


class StopGone(LookupError):
    """The state change that began the stop is no longer stored (deleted by retention, say)."""


def set_stop_reason(
    store: Store, machine: str, stop_start: datetime, state: str, reason_code: str
) -> datetime:
    """Give the stop that began at `stop_start` the reason; returns the ts of the record carrying it."""
    if not store.set_state_reason(machine, stop_start, reason_code):
        raise StopGone(f"{machine}: no {state} state change at {stop_start.isoformat()}")
    return stop_start


#: the stop reasons offered on the tablet screen: (code, Korean, English); configurable per app
DEFAULT_STOP_REASONS: tuple[tuple[str, str, str], ...] = (
    ("die_change", *STATES.pair("die_change")),
    ("waiting_material", *STATES.pair("waiting_material")),
    ("breakdown", *STATES.pair("breakdown")),
    ("no_operator", *STATES.pair("no_operator")),
    ("quality_check", *STATES.pair("quality_check")),
)


# -- the reasons an operator can pick ---------------------------------------------------------
#: limits of a firm's list of stop reasons
MAX_REASONS = 60
MAX_CODE = 100
MAX_LABEL = 200


@dataclass(frozen=True)
class ReasonProblem:
    """One thing wrong with a list of stop reasons: item (0-based), field, why."""

    index: int
    field: str
    why: str


def check_stop_reasons(items: list[dict]) -> tuple[list[tuple[str, str, str]], list[ReasonProblem]]:
    """Validate stop reasons given as {"code", "ko", "en"} dicts; returns (reasons, problems).

    Codes and labels are trimmed; a code is non-empty, at most MAX_CODE characters, has no
    control characters and is not repeated; both labels are non-empty; 1 to MAX_REASONS items.
    """
    problems: list[ReasonProblem] = []
    reasons: list[tuple[str, str, str]] = []
    if not items:
        problems.append(ReasonProblem(0, "reasons", accounts_text("reasons_none")))
    if len(items) > MAX_REASONS:
        problems.append(
            ReasonProblem(MAX_REASONS, "reasons", accounts_text("reasons_too_many", max=MAX_REASONS))
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        code, ko, en = (str(item.get(k) or "").strip() for k in ("code", "ko", "en"))
        if not code:
            problems.append(ReasonProblem(i, "code", accounts_text("code_empty")))
        elif len(code) > MAX_CODE or any(ord(ch) < 32 for ch in code):
            problems.append(ReasonProblem(i, "code", accounts_text("code_invalid", max=MAX_CODE)))
        elif code in seen:
            problems.append(
                ReasonProblem(
                    i, "code", accounts_text("code_duplicate", code=repr(code), item=seen[code] + 1)
                )
            )
        else:
            seen[code] = i
        for name, label in (("ko", ko), ("en", en)):
            if not label:
                problems.append(ReasonProblem(i, name, accounts_text("label_empty", name=name)))
            elif len(label) > MAX_LABEL:
                problems.append(ReasonProblem(i, name, accounts_text("label_too_long", max=MAX_LABEL)))
        reasons.append((code, ko, en))
    return reasons, problems


def parse_reason_lines(text: str) -> tuple[list[dict], list[str]]:
    """Stop reasons from text, one per line: `code | 한국어 | English` (a tab or ; also
    separates). Blank lines and lines starting with # are skipped. Returns (items, errors)
    with errors naming the line."""
    items, errors = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        sep = next((s for s in ("|", "\t", ";") if s in line), None)
        parts = [p.strip() for p in line.split(sep)] if sep else [line]
        if len(parts) != 3:
            errors.append(accounts_text("line_fields", n=n, got=len(parts)))
            continue
        items.append({"code": parts[0], "ko": parts[1], "en": parts[2], "line": n})
    return items, errors


def firm_stop_reasons(
    accounts: Accounts, firm_id: int, default: tuple[tuple[str, str, str], ...]
) -> tuple[tuple[str, str, str], ...]:
    """The reasons the firm's operators pick from: the firm's own list, else `default`."""
    own = accounts.stop_reasons(firm_id)
    return tuple(own) if own is not None else default
