"""What counts as this machine: a host that plain HTTP may reach without crossing a network."""

from __future__ import annotations

import ipaddress

# The one name every system maps to the loopback interface; other names go through DNS or a
# hosts file and may point anywhere.
LOCALHOST = "localhost"


def is_loopback(host: str) -> bool:
    """Whether host is this machine only: 127.0.0.0/8, ::1 or localhost (as a listener's
    address or a URL's host, brackets and a trailing dot allowed)."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if name == LOCALHOST:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
