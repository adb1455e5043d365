"""Exceptions of the OpenOMS client.

``OmsApiError`` and its subclasses mean the server answered and refused: they carry its
``{"error": {"code", "message", "detail"}}`` and the HTTP status. ``OmsConnectionError`` means
no answer came (nothing listening, timeout, a reply that is not the API's). ``OmsInputError`` is
raised before anything is sent, for arguments the client can tell are wrong.
"""

from __future__ import annotations

from typing import Any


class OmsError(Exception):
    """Base of every error the client raises."""


class OmsInputError(OmsError, ValueError):
    """An argument is wrong (not a decimal, an unknown side...); nothing was sent."""


class OmsConnectionError(OmsError):
    """No answer from the server: unreachable, timed out, or not speaking the OpenOMS API."""


class OmsApiError(OmsError):
    """The server refused the request; ``code``, ``message`` and ``detail`` are its own words."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail: Any = detail if detail is not None else {}

    def as_dict(self) -> dict[str, Any]:
        """The server's error document, as it sent it."""
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class InvalidRequest(OmsApiError):
    """400/422: the request is malformed or a field is invalid (``INVALID_FIELD``, ``MALFORMED_JSON``)."""


class OrderRejected(OmsApiError):
    """422 with a business code: the engine or pre-trade risk refused (``RISK_MAX_NOTIONAL``,
    ``INVALID_QUANTITY``, ``UNKNOWN_INSTRUMENT``...)."""


class Unauthorized(OmsApiError):
    """401: no valid credential (missing, expired or revoked token)."""


class PermissionDenied(OmsApiError):
    """403: the user may not do this (``NOT_PERMITTED``, ``KILL_SWITCH``, ``UNKNOWN_TRADER``)."""


class NotFound(OmsApiError):
    """404: no such order, instrument or route (``UNKNOWN_ORDER``, ``NOT_FOUND``...)."""


class Conflict(OmsApiError):
    """409: the order's state forbids it now (``TOO_LATE``, ``ALREADY_PENDING``, ``DUPLICATE_CL_ORD_ID``)."""


class ServerUnavailable(OmsApiError):
    """503: the engine or journal cannot take requests (``ENGINE_UNAVAILABLE``)."""


class ServerError(OmsApiError):
    """Any other 5xx: the server failed (it logs the cause)."""


_VALIDATION_CODES = frozenset({"INVALID_FIELD", "MALFORMED_JSON"})


def api_error(status: int, code: str, message: str, detail: Any = None) -> OmsApiError:
    """The exception class that fits an error answer."""
    kind: type[OmsApiError]
    if status == 400 or (status == 422 and code in _VALIDATION_CODES):
        kind = InvalidRequest
    elif status == 401:
        kind = Unauthorized
    elif status == 403:
        kind = PermissionDenied
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status == 503:
        kind = ServerUnavailable
    elif status >= 500:
        kind = ServerError
    elif status == 422:
        kind = OrderRejected
    else:
        kind = OmsApiError
    return kind(status, code, message, detail)
