"""Whether a host whose worker went down is still there: decided before xdist starts a
replacement worker on it, so that none is ever attempted on a host that is gone.

A worker that crashed (an implementation aborted it) leaves its host up: its socket server
still listens, its proxy gateway still receives. A host that went down (killed, preempted,
its network gone) does neither: the proxy's receiver has ended, and a connection to its
address is refused or never answered.
"""

from __future__ import annotations

import socket
from typing import Any

CONNECT_SECONDS = 3.0  # an answering host accepts on loopback or a LAN well within this


def address_of(spec: Any) -> tuple[str, int] | None:
    """The ``host, port`` of a ``socket=`` spec; None for any other kind."""
    value = getattr(spec, "socket", None)
    if not value or ":" not in str(value):
        return None
    host, _, port = str(value).rpartition(":")
    return host, int(port)


def answers(address: tuple[str, int], seconds: float = CONNECT_SECONDS) -> bool:
    """Whether something accepts a connection at ``address``: a socket server, busy or not,
    accepts into its backlog (and drops the empty connection later, unharmed)."""
    try:
        with socket.create_connection(address, timeout=seconds):
            return True
    except OSError:
        return False


def why_gone(spec: Any, proxy_spec: Any | None, proxy: Any | None) -> str | None:
    """Why the host of a worker spec is gone, or None when it still answers (or cannot be
    asked: popen and ssh gateways are left to xdist, whose replacement tells). A worker
    through a proxy (``via=``) has lost its host when the proxy's gateway has ended
    (``proxy`` None: execnet has dropped it already) or no longer receives; one whose
    receiver has not ended yet is asked at the proxy's address (``proxy_spec``)."""
    if getattr(spec, "via", None):
        if proxy is None or not proxy.hasreceiver():
            return "connection lost"
        spec = proxy_spec
    address = address_of(spec)
    if address is None:
        return None
    if not answers(address):
        return f"no answer at {address[0]}:{address[1]}"
    return None
