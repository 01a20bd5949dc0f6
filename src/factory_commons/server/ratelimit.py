"""Login throttling shared by every server worker, and the client address behind trusted proxies.

Each login attempt is checked and counted in one transaction of the accounts database
(`Accounts.throttle_claim`: SQLite's write lock or PostgreSQL rows locked `FOR UPDATE`), once
for the account (the e-mail) and once for the client address, before the password is checked;
so 60 guesses sent at once get at most the free attempts, whatever the number of workers.

No hard lockout: after `free_per_account` attempts on one e-mail (5) or `free_per_address`
from one address (10), the next attempt must wait 1 s, then 2, 4, 8 ... seconds, up to
`max_delay_account` (30 s: a stranger guessing someone's password slows that account a
little, never locks its owner out for long) or `max_delay_address` (15 min: the guesser's own
address slows down a lot). A refused attempt answers 429 with Retry-After and counts nothing.
A successful login forgets the account's failures and takes back its count on the address.
Counts are forgotten `forget_after` (1 h) after the last attempt.

Client address: the direct peer, unless it is one of the trusted proxies (setting
`FC_TRUSTED_PROXIES`: addresses or networks separated by commas, default none); then the
right-most address of X-Forwarded-For that is not itself a trusted proxy. So a forged header
sent from anywhere else changes nothing, and users behind a proxy are told apart.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from ..accounts import Accounts, User

TRUSTED_PROXIES_ENV = "FC_TRUSTED_PROXIES"
FREE_PER_ACCOUNT = 5
FREE_PER_ADDRESS = 10
MAX_DELAY_ACCOUNT = 30.0
MAX_DELAY_ADDRESS = 900.0
FORGET_AFTER = timedelta(hours=1)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(value: str | Iterable[str] | None) -> tuple[Network, ...]:
    """Trusted proxies from a setting ("10.0.0.1, 10.1.0.0/16") or a list; ValueError names a bad entry."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or [])
    nets = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{TRUSTED_PROXIES_ENV}: not an address or network: {item!r}") from None
    return tuple(nets)


def _in(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(request: Request, trusted: tuple[Network, ...]) -> str | None:
    """The address of the person calling: the peer, or behind a trusted proxy the right-most
    X-Forwarded-For entry that is not a trusted proxy (the header is ignored from anyone else)."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header: the proxy's own address
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _delay(count: int, free: int, cap: float) -> float:
    return 0.0 if count < free else float(min(2 ** min(count - free, 30), cap))


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: the user (None: wrong e-mail or password, or `wait`)
    and, when throttled, the seconds to wait (the password was not checked)."""

    user: User | None
    wait: int | None = None
    #: the password was right but the user's TOTP code is missing (or wrong: `user` is None)
    code_needed: bool = False


class LoginLimiter:
    """The login policy of one server over the accounts database (shared by all workers)."""

    def __init__(
        self,
        accounts: Accounts | None = None,
        *,
        free_per_account: int = FREE_PER_ACCOUNT,
        free_per_address: int = FREE_PER_ADDRESS,
        max_delay_account: float = MAX_DELAY_ACCOUNT,
        max_delay_address: float = MAX_DELAY_ADDRESS,
        forget_after: timedelta = FORGET_AFTER,
        trusted_proxies: str | Iterable[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        if free_per_account < 1 or free_per_address < 1 or forget_after <= timedelta(0):
            raise ValueError("free attempts must be at least 1 and forget_after positive")
        self.accounts = accounts
        self.free_per_account, self.free_per_address = free_per_account, free_per_address
        self.max_delay_account, self.max_delay_address = max_delay_account, max_delay_address
        self.forget_after = forget_after
        if trusted_proxies is None:
            trusted_proxies = os.environ.get(TRUSTED_PROXIES_ENV, "")
        self.trusted = parse_proxies(trusted_proxies)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._logged_delay: dict[str, float] = {}

    def bind(self, accounts: Accounts) -> LoginLimiter:
        """Count in `accounts` unless the limiter was given its own database."""
        if self.accounts is None:
            self.accounts = accounts
        return self

    def address(self, request: Request) -> str | None:
        return client_address(request, self.trusted)

    @staticmethod
    def _keys(email: str, address: str | None) -> tuple[str, str | None]:
        return f"e:{email.strip().lower()[:320]}", (f"a:{address}" if address else None)

    def attempt(self, email: str, address: str | None) -> int | None:
        """Check and count one attempt: None to go ahead (check the password now), else the
        seconds to wait (nothing counted)."""
        acc = self._db()
        account, addr = self._keys(email, address)
        delays: dict[str, tuple[Callable[[int], float], float]] = {
            account: (
                lambda n: _delay(n, self.free_per_account, self.max_delay_account),
                self.max_delay_account,
            )
        }
        if addr:
            delays[addr] = (
                lambda n: _delay(n, self.free_per_address, self.max_delay_address),
                self.max_delay_address,
            )
        now = self._clock().timestamp()
        wait = acc.throttle_claim(delays, now, self.forget_after.total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def login(self, email: str, password: str, address: str | None, code: str | None = None) -> LoginResult:
        """One login attempt: throttle, check the password (and the TOTP `code` of a user who
        switched the second factor on), log the outcome in the security log. A missing or
        wrong code counts as a failed attempt."""
        acc = self._db()
        now = self._clock()
        known = acc.user_by_email(email) if "\x00" not in email else None
        firm_id = known.firm_id if known else None
        target = email.strip().lower()[:300]
        wait = self.attempt(email, address)
        if wait is not None:
            key = f"{target}|{address}"
            if now.timestamp() - self._logged_delay.get(key, 0.0) >= 60:  # one row a minute, not a flood
                if len(self._logged_delay) > 10_000:
                    self._logged_delay.clear()
                self._logged_delay[key] = now.timestamp()
                acc.log_event("login_delayed", None, firm_id, target, f"{wait} s", address, now)
            return LoginResult(None, wait)
        user = acc.authenticate(email, password)
        if user is None:
            acc.log_event("login_failed", None, firm_id, target, "", address, now)
            return LoginResult(None)
        if acc.totp_on(user.id) and not acc.totp_check(user.id, code or "", now):
            acc.log_event("login_failed", None, user.firm_id, user.email, "totp code", address, now)
            return LoginResult(None, code_needed=True)
        account, addr = self._keys(email, address)
        acc.throttle_release(account, forget=True)
        if addr:
            acc.throttle_release(addr, forget=False)
        acc.log_event("login_ok", user, user.firm_id, user.email, "", address, now)
        return LoginResult(user)

    def _db(self) -> Accounts:
        if self.accounts is None:  # a limiter used alone (tests): its own database in memory
            self.accounts = Accounts(":memory:")
        return self.accounts
