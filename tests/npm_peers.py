"""Installing a protocol peer from the npm registry for the interop tests, once per lock file.

`install(peer_dir, name)` copies `peer_dir/package.json` and `package-lock.json` into a cache
folder `~/.cache/factory-commons/npm/<name>-<hash of the lock file>` (the root moves with
FC_NPM_CACHE), runs `npm ci` there once (other test processes wait on a file lock) and returns
the folder. Without node or npm, or when the install fails, the calling test is skipped with
the reason, or fails with it when FC_REQUIRE_NPM=1 (.ci/run sets it: CI has Node.js).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

INSTALL_TIMEOUT_S = 600


def cache_root() -> Path:
    return Path(os.environ.get("FC_NPM_CACHE") or Path.home() / ".cache" / "factory-commons" / "npm")


def unavailable(why: str) -> None:
    """Skip the test with `why`, or fail it where the peers are required (FC_REQUIRE_NPM=1)."""
    if os.environ.get("FC_REQUIRE_NPM") == "1":
        pytest.fail(f"an npm peer is required (FC_REQUIRE_NPM=1) but unavailable: {why}")
    pytest.skip(why)


def install(peer_dir: Path, name: str, extra_args: tuple[str, ...] = ()) -> Path:
    """The folder where `peer_dir`'s locked packages are installed (node_modules inside)."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        unavailable(f"{name} peer: node and npm are not on PATH (CI has them: Node.js 20)")
    lock = (peer_dir / "package-lock.json").read_bytes()
    target = cache_root() / f"{name}-{hashlib.sha256(lock).hexdigest()[:16]}"
    done = target / ".installed"
    if done.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)  # another test process may be installing it
        if done.exists():
            return target
        work = target.with_name(target.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for file in ("package.json", "package-lock.json"):
            shutil.copy2(peer_dir / file, work / file)
        cmd = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", *extra_args]
        try:
            run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            unavailable(
                f"{name} peer: npm ci took more than {INSTALL_TIMEOUT_S} s (is the registry reachable?)"
            )
        if run.returncode != 0:
            unavailable(f"{name} peer: npm ci failed: {(run.stderr or run.stdout).strip()[-400:]}")
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        done.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return target
