"""The app's web server: Solara's server behind a guard that admits only the page's own host and origin.

Solara answers any `Host` header and accepts a websocket from any `Origin`. A page on another site
could then open the app's websocket from the founder's browser and drive it (cross-site websocket
hijacking), or reach it through a name that resolves to 127.0.0.1 (DNS rebinding). `HostOriginGuard`
wraps Solara's ASGI app: a request whose `Host` is not one of the names the app listens on gets
403, and so does a request or websocket handshake whose `Origin` is another site's.

`clubsim app` runs `python -m sim.interfaces.app_server` (this module's `main`), which installs the guard around
`solara.server.starlette:app` and then hands over to `solara run`; the allowed hosts come from the
environment variable `CLUBSIM_APP_HOSTS` that `sim.interfaces.app.serve` sets.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

HOSTS_ENV = "CLUBSIM_APP_HOSTS"  # the Host values the app answers to, comma-separated ("127.0.0.1:8765,...")
SOLARA_APP = "solara.server.starlette:app"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _bracketed(host: str) -> str:
    """An IPv6 address as it appears in a Host header ("[::1]"); other names unchanged."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host.strip("[]")).version == 6 else host
    except ValueError:
        return host


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The `Host` header values a page served on host:port is reached by.

    A loopback address admits every loopback name; listening on every address (0.0.0.0, ::) also
    admits this machine's own names. A name without a port is the same name on `port`.
    """
    names = {_bracketed(host)}
    if host in ("127.0.0.1", "localhost", "::1") or host in ANY_ADDRESS:
        names.update(LOOPBACK_NAMES)
    if host in ANY_ADDRESS:
        names.discard(_bracketed(host))
        names.update({socket.gethostname(), socket.getfqdn()})
    names.update(_bracketed(name) for name in extra)
    hosts = {f"{name.lower()}:{port}" for name in names if name}
    if port == 80:  # a browser leaves the default port out of Host and Origin
        hosts.update(name.lower() for name in names if name)
    return frozenset(hosts)


class HostOriginGuard:
    """ASGI middleware: 403 unless `Host` is one of `hosts` and any `Origin` is http(s) on one of them."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None to let it through."""
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return f"Host {host!r} is not this app's"
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() not in self.hosts:
                return f"Origin {origin!r} is another site"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            # closing before accepting makes the server answer the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
        else:
            body = f"clubsim app: refused ({reason}); open the address `clubsim app` printed\n".encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def _install_guard(hosts: frozenset[str]) -> None:
    """Make uvicorn load Solara's app wrapped in the guard (Solara names its app by import string)."""
    import uvicorn.config

    load = uvicorn.config.import_from_string

    def guarded_import(name: Any) -> Any:
        loaded = load(name)
        return HostOriginGuard(loaded, hosts) if name == SOLARA_APP else loaded

    uvicorn.config.import_from_string = guarded_import


def main() -> None:
    """`python -m sim.interfaces.app_server <solara run arguments>`: solara run, behind the guard."""
    hosts = frozenset(h for h in os.environ.get(HOSTS_ENV, "").split(",") if h)
    if not hosts:
        raise SystemExit(f"clubsim app: {HOSTS_ENV} is not set (start the page with `clubsim app`)")
    _install_guard(hosts)
    # Solara warns in 12 lines on every first load over http that it falls back to SameSite=Lax cookies:
    # the safer setting, and the one a page on this machine wants (it is never embedded in another site)
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https", category=UserWarning)
    from solara.__main__ import main as solara_main

    sys.argv = ["solara", *sys.argv[1:]]
    solara_main()


if __name__ == "__main__":
    main()


__all__ = ["HOSTS_ENV", "HostOriginGuard", "allowed_hosts", "main"]
