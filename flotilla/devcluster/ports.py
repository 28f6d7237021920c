"""Loopback port selection for the local control plane's components.

Ports are picked, never assumed: `free_port` asks the kernel for one; `require_free`
checks a port the user chose and says which process holds it when it is taken.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess

from flotilla.devcluster.process import ComponentError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _holder(port: int) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        if out:
            return f" (held by: {out.split()[-1]})"
    return ""


def require_free(port: int, component: str) -> int:
    """`port`, or a ComponentError naming the component and the holder when it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as err:
            raise ComponentError(
                f"{component} cannot listen on {LOOPBACK}:{port}: the port is taken{_holder(port)} ({err}). "
                "Stop whatever holds it, or choose another port."
            ) from err
    return port
