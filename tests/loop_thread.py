"""Running a test server's asyncio loop in a daemon thread until it says it is ready.

`start_loop_thread(main, what)` runs `asyncio.run(main(ready))` in a daemon thread and waits
until `main` sets `ready` (the server listens); an exception before that, or no `ready` within
`timeout` seconds, is raised in the test's thread with `what` in the message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


def start_loop_thread(
    main: Callable[[threading.Event], Awaitable[None]], what: str, timeout: float = 10
) -> threading.Thread:
    ready = threading.Event()
    failed: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main(ready))
        except BaseException as e:  # noqa: BLE001 - reported to the test
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    if not ready.wait(timeout) or failed:
        raise RuntimeError(f"{what} did not start within {timeout} s: {failed}")
    return thread
