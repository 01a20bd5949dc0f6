"""Command-line commands for data collection: `collect`, `browse`, `import`.

`register(app)` adds them to the main `factory-commons` app. Heavy libraries (paho, asyncua,
pymodbus, openpyxl) are imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the collection commands to `app`."""
