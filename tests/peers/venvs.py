"""One virtualenv per peer library, made with uv and cached by a hash of its requirements.

The libraries pin OpenTelemetry differently, so each gets its own venv under ``.peers/venvs/``
(gitignored), named ``<library>-<hash of requirements + Python version>``: a rerun with the same
requirements reuses it; a changed requirements file makes a new one. A venv that failed half
way is never reused (``.complete`` is written last). If PyPI cannot be reached the install
fails, and so does the test, with uv's own message: nothing is skipped.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".peers" / "venvs"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
INSTALL_TIMEOUT_S = 420


class PeerSetupError(RuntimeError):
    """A library's venv could not be made (PyPI unreachable, a bad pin, ...)."""


def uv() -> str:
    """The uv that the dev extra installs next to this interpreter, else one on PATH."""
    local = Path(sys.executable).parent / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        raise PeerSetupError("uv is not installed: `pip install -e '.[dev]'` brings it")
    return found


def venv_dir(name: str) -> Path:
    text = (REQUIREMENTS / f"{name}.txt").read_bytes()
    digest = hashlib.sha256(text + sys.version.encode()).hexdigest()[:12]
    return CACHE / f"{name}-{digest}"


def ensure(name: str) -> Path:
    """The python of ``name``'s venv, made now unless a complete one is cached."""
    target = venv_dir(name)
    python = target / "bin" / "python"
    if (target / ".complete").exists():
        return python
    shutil.rmtree(target, ignore_errors=True)
    for step in (
        [uv(), "venv", "-q", "--python", sys.executable, str(target)],
        [
            uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-r",
            str(REQUIREMENTS / f"{name}.txt"),
        ],
    ):
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            raise PeerSetupError(
                f"could not make the {name} venv (is PyPI reachable?): {' '.join(step)}\n"
                + done.stderr[-3000:]
            )
    (target / ".complete").write_text("ok\n")
    return python


def ensure_all(names: list[str]) -> dict[str, Path | PeerSetupError]:
    """Every venv, made in parallel (uv mostly waits on the network and the disk)."""

    def one(name: str) -> Path | PeerSetupError:
        try:
            return ensure(name)
        except (PeerSetupError, subprocess.TimeoutExpired) as exc:
            return exc if isinstance(exc, PeerSetupError) else PeerSetupError(str(exc))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))
