"""`python -m factory_commons.collect --config plant.toml`: the collector alone, for small edge boxes.

The same commands as `factory-commons collect ...` (`discover` too), without loading the rest of
the program (the server, KPIs, analytics): the main command line registers every feature, which
costs about 100 MB more memory in a process that runs for months.
"""

from __future__ import annotations

from .cli import collect_app


def main() -> None:
    collect_app(prog_name="python -m factory_commons.collect")


if __name__ == "__main__":
    main()
