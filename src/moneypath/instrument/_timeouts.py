"""Whether an exception that ended an authorization is a timeout, whatever client raised it.

HTTP clients have timeout classes of their own that are not the built-in TimeoutError: `requests`'
Timeout (ReadTimeout, ConnectTimeout), urllib3's TimeoutError, httpx's TimeoutException. They are
recognised by their class's module and name anywhere in the exception's MRO, so the library imports
none of them; a client that wraps a timeout in another error (requests raises ConnectionError around
urllib3's ReadTimeoutError while streaming a body) is seen through its cause, context or first arg.
aiohttp's timeouts subclass the built-in one. The answer is cached per exception class.
"""

from __future__ import annotations

import asyncio

# (module, qualified name) of each client's timeout base class.
CLIENT_TIMEOUTS = frozenset({
    ("requests.exceptions", "Timeout"),
    ("urllib3.exceptions", "TimeoutError"),
    ("httpx", "TimeoutException"),
    ("httpx._exceptions", "TimeoutException"),
})
# urllib3's refused or unresolvable connection subclasses its ConnectTimeoutError: an error, not a timeout.
NOT_TIMEOUTS = frozenset({("urllib3.exceptions", "NewConnectionError")})
_CHAIN_DEPTH = 4  # how many wrapped exceptions are looked through
_by_class: dict[type, bool] = {}


def _timeout_class(cls: type) -> bool:
    known = _by_class.get(cls)
    if known is None:
        # asyncio.timeout() cancels the block before raising TimeoutError outside it.
        names = [(base.__module__, base.__qualname__) for base in cls.__mro__]
        known = not NOT_TIMEOUTS.intersection(names) and (
            issubclass(cls, (TimeoutError, asyncio.CancelledError)) or bool(CLIENT_TIMEOUTS.intersection(names)))
        if len(_by_class) < 1024:
            _by_class[cls] = known
    return known


def is_timeout(exc_type: type | None, exc: BaseException | None = None) -> bool:
    """True when the exception, or one it wraps, is a timeout of the built-in kind or a known client's."""
    if exc_type is None:
        return False
    if _timeout_class(exc_type):
        return True
    seen = 0
    while exc is not None and seen < _CHAIN_DEPTH:
        seen += 1
        wrapped = exc.__cause__ or exc.__context__
        if wrapped is None and exc.args and isinstance(exc.args[0], BaseException):
            wrapped = exc.args[0]
        if wrapped is not None and _timeout_class(type(wrapped)):
            return True
        exc = wrapped
    return False
