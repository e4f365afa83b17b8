"""The collector's error classes and how each maps onto the wire.

::

    GlasslineError                 base of everything the collector raises on purpose
    ├── RetryableError             the client should send the same data again later
    │                              gRPC UNAVAILABLE (or RESOURCE_EXHAUSTED when overloaded),
    │                              HTTP 503 (or 429), both with a retry delay
    ├── PermanentError             the request itself is wrong; sending it again will not help
    │   │                          gRPC INVALID_ARGUMENT, HTTP 400 (413 / 415 via http_status)
    ├── AuthError                  missing or unknown API key: gRPC UNAUTHENTICATED, HTTP 401
    ├── ForbiddenError             a tenant's key asked for another tenant: PERMISSION_DENIED, 403
    ├── ConfigError                the configuration is invalid; carries every problem found
    └── ListenError                a configured port cannot be listened on (in use, no such
                                   address on this host): logged on one line, exit 1

A receiver catches ``GlasslineError`` and answers with :attr:`grpc_code` / :attr:`http_status`
and :attr:`message`; anything else is a bug, logged and answered as retryable so no data that
the client still holds is lost.
"""

from __future__ import annotations

import grpc

__all__ = [
    "AuthError",
    "ConfigError",
    "ForbiddenError",
    "GlasslineError",
    "ListenError",
    "PermanentError",
    "RetryableError",
]


class GlasslineError(Exception):
    """Base class; ``message`` is safe to send to the client (never payload content)."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500

    def __init__(self, message: str) -> None:
        # A message may quote the bad input (a lone surrogate): keep it encodable for the wire.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.message = message

    def answer_only(self) -> GlasslineError:
        """This error without its traceback and the errors it came from: what answering it
        needs, and all that is kept while it waits to be answered.

        A traceback holds its frames, each its caller and its locals (an export's body), and
        an error kept in a frame it passed through makes a cycle: every export answered with
        an error (a message that does not decode) kept its 8 MB body until the garbage
        collector ran, rarely here (see memory.py), in the front and in its runner.
        """
        self.__traceback__ = self.__context__ = self.__cause__ = None
        return self


class RetryableError(GlasslineError):
    """A transient failure: the data was NOT accepted and should be sent again.

    ``overloaded=True`` means the collector refused the work to keep its memory bounded
    (RESOURCE_EXHAUSTED / 429); otherwise something downstream failed (UNAVAILABLE / 503).
    """

    def __init__(self, message: str, *, retry_after_s: float = 1.0, overloaded: bool = False):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.overloaded = overloaded
        self.grpc_code = (
            grpc.StatusCode.RESOURCE_EXHAUSTED if overloaded else grpc.StatusCode.UNAVAILABLE
        )
        self.http_status = 429 if overloaded else 503


class PermanentError(GlasslineError):
    """The request is malformed or too large; resending it unchanged will fail again."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class AuthError(GlasslineError):
    """No API key, or one the collector does not know."""

    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class ForbiddenError(GlasslineError):
    """A valid key asking for what it may not read (another tenant's data)."""

    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class ConfigError(GlasslineError):
    """Invalid configuration. ``problems`` lists every error, each as ``path: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class ListenError(GlasslineError):
    """A port of ``server`` cannot be listened on; ``message`` names the setting, the address
    and the operating system's reason (another program holds the port, the host is not an
    address of this machine), for an operator: a traceback said less."""

    def __init__(self, setting: str, host: str, port: int, reason: str) -> None:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
        super().__init__(f"server.{setting}: cannot listen on {address}: {reason}")
