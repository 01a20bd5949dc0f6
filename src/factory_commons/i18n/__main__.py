"""`python -m factory_commons.i18n compile|check`: compile the catalogs, or list what is missing."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from .tools import compile_all, problems

    cmd = argv[0] if argv else "check"
    if cmd == "compile":
        for path in compile_all():
            print(f"wrote {path}")
        cmd = "check"
    if cmd == "check":
        found = problems()
        for p in found:
            print(p)
        return 1 if found else 0
    print("usage: python -m factory_commons.i18n [compile|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
