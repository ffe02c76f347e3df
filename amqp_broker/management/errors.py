# Error answers of the management API, shaped like RabbitMQ's: an HTTP status and a JSON body
# {"error": ..., "reason": ...}.
#
# Rules kept here:
# - A handler raises ApiError where it finds the problem; the app turns it into a response in one
#   place (app.py).
# - An AMQPError raised by the broker while serving a request maps to the status RabbitMQ's
#   management plugin gives it (measured on 3.10.8): 404 for NOT_FOUND, 401 for ACCESS_REFUSED,
#   400 for the rest, with the reply text minus its "CODE - " prefix as the reason.
from __future__ import annotations

from typing import Any

from amqp_broker.errors import AMQPError, ReplyCode


class ApiError(Exception):
    def __init__(self, status: int, error: str, reason: Any) -> None:
        super().__init__(f"{status} {error}: {reason}")
        self.status = status
        self.error = error
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason}


def not_found() -> ApiError:
    """RabbitMQ's answer for a path naming nothing (unknown vhost, queue, route)."""
    return ApiError(404, "Object Not Found", "Not Found")


def bad_request(reason: Any) -> ApiError:
    return ApiError(400, "bad_request", reason)


def login_failed() -> ApiError:
    return ApiError(401, "not_authorized", "Login failed")


def not_authorised(reason: str) -> ApiError:
    # RabbitMQ spells it two ways: "not_authorized" for a bad login, "not_authorised" otherwise.
    return ApiError(401, "not_authorised", reason)


def from_amqp(error: AMQPError) -> ApiError:
    """The answer RabbitMQ's management plugin gives when the broker refuses an operation."""
    if error.code is ReplyCode.ACCESS_REFUSED:
        return not_authorised("Access refused.")
    if error.code is ReplyCode.NOT_FOUND:
        return ApiError(404, "not_found", error.detail)
    return bad_request(error.detail)
