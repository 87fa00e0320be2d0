"""Loopback ports for the tests' real servers.

Exports :func:`free_port`.
"""

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (another process may take it before the caller binds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
