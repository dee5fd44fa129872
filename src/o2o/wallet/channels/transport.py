"""The one place channel HTTP goes through: our clients calling the simulators, and the simulators delivering
their callbacks to us.

By default each exchange uses a fresh ``httpx.Client`` (real HTTP). Tests route everything into an app
in-process instead::

    from fastapi.testclient import TestClient
    from o2o.wallet.channels import transport

    with transport.routed(lambda: TestClient(app)):
        ...  # every client call and every callback delivery now runs inside ``app``

A factory returns an ``httpx.Client`` (``TestClient`` is one); the client it returns is used for one exchange
and not closed by us, so a factory may hand out the same client every time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import httpx

HttpFactory = Callable[[], httpx.Client]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

_lock = threading.Lock()
_factory: HttpFactory | None = None


def set_http_factory(factory: HttpFactory | None) -> HttpFactory | None:
    """Route channel HTTP through ``factory`` (``None``: real HTTP again). Returns the previous factory."""
    global _factory
    with _lock:
        previous, _factory = _factory, factory
    return previous


@contextlib.contextmanager
def routed(factory: HttpFactory) -> Iterator[None]:
    """``set_http_factory`` for the duration of a block."""
    previous = set_http_factory(factory)
    try:
        yield
    finally:
        set_http_factory(previous)


@contextlib.contextmanager
def client(timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> Iterator[httpx.Client]:
    """An HTTP client for one exchange (or a few, e.g. a bill URL then its file)."""
    factory = _factory
    if factory is not None:
        yield factory()
        return
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as real:
        yield real
