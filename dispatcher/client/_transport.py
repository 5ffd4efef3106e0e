"""The HTTP side: one keep-alive ``aiohttp`` session with verified TLS, and the URL check.

TLS is always verified (the system store, ``SSL_CERT_FILE``, plus ``api.ca_bundle``); plain
http is refused except to loopback (the local sandbox).
"""

from __future__ import annotations

import ipaddress
import ssl
from asyncio import sslproto
from pathlib import Path
from urllib.parse import urlsplit

from dispatcher.errors import ConfigError


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, setting: str = "api.base_url") -> None:
    """Refuse plain http to anything but loopback: the token would travel in clear text."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return
    raise ConfigError(
        f"{setting} = {url!r}: plain http would send the token in clear text; "
        "use https (only the local sandbox may use http://127.0.0.1)"
    )


TLS_READ_BUFFER_BYTES = 32 * 1024
"""Read chunk of asyncio's TLS transport: two full TLS records, far above any API answer."""


def shrink_tls_read_buffers() -> None:
    """Lower asyncio's per-connection TLS read buffer from 256 KiB to ``TLS_READ_BUFFER_BYTES``.

    ``asyncio.sslproto.SSLProtocol.max_size`` is only the chunk each read asks for (reads loop
    until the TLS buffer is drained), so behaviour is unchanged; but at 256 KiB, 180 open
    connections kept ~40 MB resident (measured: 107 -> 67 MB RSS after one round of 180
    requests). Process-wide, like the class attribute; skipped if a Python lacks it.
    """
    protocol = getattr(sslproto, "SSLProtocol", None)
    size = getattr(protocol, "max_size", None)
    if protocol is not None and isinstance(size, int) and size > TLS_READ_BUFFER_BYTES:
        protocol.max_size = TLS_READ_BUFFER_BYTES


def build_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying TLS context: the system store (honours SSL_CERT_FILE) plus ``ca_bundle``."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"api.ca_bundle = {str(ca_bundle)!r}: not a readable PEM bundle ({exc})"
            ) from None
    return context
