# How management endpoints are written: authentication, JSON in and out, RabbitMQ's listing
# parameters (columns, sort), and errors as RabbitMQ's {"error", "reason"} bodies.
#
# Rules kept here:
# - Routes match the raw, still percent-encoded path (app.py); handlers decode their parameters
#   once with `param()`, so the default vhost "/" (sent as %2F) stays one segment.
# - Every endpoint is an `async def` that runs on the broker's trio thread and calls the sync
#   broker directly (starlette would run a plain `def` in a worker thread: never do that here).
# - Every answer is JSON; errors have RabbitMQ's {"error", "reason"} bodies; an unexpected
#   exception costs one 500 answer and a log line, never the broker.
from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from amqp_broker.errors import AMQPError
from amqp_broker.management.auth import CHALLENGE, Caller, authenticate
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import ApiError, bad_request, from_amqp
from amqp_broker.management.pagination import default_order, paginate, wants_page

log = logging.getLogger("amqp_broker.management")

Handler = Callable[[Request, Caller], Awaitable[Any]]


class NoContent:
    """A handler's answer for "done, nothing to say": 204, or 201 when it created something."""

    def __init__(self, created: bool = False) -> None:
        self.status = 201 if created else 204


def param(request: Request, name: str) -> str:
    """A path parameter, percent-decoded once ("%2F" -> "/")."""
    return urllib.parse.unquote(request.path_params[name])


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("not_json") from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("not_json")
    return body


def _pick(item: Any, column: str) -> tuple[bool, Any]:
    for part in column.split("."):
        if not isinstance(item, dict) or part not in item:
            return False, None
        item = item[part]
    return True, item


def _columns(item: Any, columns: Sequence[str]) -> Any:
    """Only the named (possibly dotted) fields, as RabbitMQ's ?columns=a,b.c answers."""
    if not isinstance(item, dict):
        return item
    picked: dict[str, Any] = {}
    for column in columns:
        found, value = _pick(item, column)
        if not found:
            continue
        *parents, last = column.split(".")
        target = picked
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return picked


def _sort_key(column: str) -> Callable[[Any], tuple[int, str, Any]]:
    def key(item: Any) -> tuple[int, str, Any]:
        found, value = _pick(item, column)
        if not found or value is None:
            return (0, "", 0)
        if isinstance(value, bool | int | float):
            return (1, "", value)
        return (2, str(value), 0)

    return key


def shape(request: Request, result: Any, paginated: bool = False) -> Any:
    """Apply the listing query parameters RabbitMQ supports: columns, sort, sort_reverse, and
    on the listings that page, page, page_size, name and use_regex."""
    query = request.query_params
    if not isinstance(result, list):
        return _shape_columns(query, result)
    paging = paginated and wants_page(query)
    sort = query.get("sort")
    if sort:
        result = sorted(result, key=_sort_key(sort))
    elif paging:
        result = sorted(result, key=default_order)
    if query.get("sort_reverse") == "true":
        result = list(reversed(result))
    if paging:
        page = paginate(query, result)
        page["items"] = _shape_columns(query, page["items"])
        return page
    return _shape_columns(query, result)


def _shape_columns(query: Mapping[str, str], result: Any) -> Any:
    columns = [name for name in query.get("columns", "").split(",") if name]
    if columns:
        if isinstance(result, list):
            result = [_columns(item, columns) for item in result]
        else:
            result = _columns(result, columns)
    return result


def error_response(error: ApiError) -> Response:
    headers = {"WWW-Authenticate": CHALLENGE} if error.status == 401 else None
    if not error.error:  # a bare 401 challenge
        return Response(status_code=error.status, headers=headers)
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def api_route(
    context: ManagementContext,
    path: str,
    handler: Handler,
    methods: Iterable[str] = ("GET",),
    *,
    administrator: bool = False,
    paginated: bool = False,
) -> Route:
    """A route whose handler gets the authenticated caller and returns JSON-able data, a
    NoContent, or a Response; `paginated`: a listing RabbitMQ pages (pagination.py)."""

    async def endpoint(request: Request) -> Response:
        try:
            client = request.client.host if request.client is not None else None
            caller = authenticate(
                context.broker,
                request.headers.get("authorization"),
                client,
                administrator=administrator,
            )
            try:
                result = await handler(request, caller)
            except AMQPError as error:
                raise from_amqp(error) from error
            finally:
                context.changed()
        except ApiError as error:
            return error_response(error)
        except Exception:
            log.exception("management API: %s %s failed", request.method, request.url.path)
            return JSONResponse(
                {"error": "internal_error", "reason": "see the broker's log"}, status_code=500
            )
        if isinstance(result, Response):
            return result
        if isinstance(result, NoContent):
            return Response(status_code=result.status)
        try:
            shaped = shape(request, result, paginated)
        except ApiError as error:
            return error_response(error)
        return JSONResponse(shaped)

    return Route(path, endpoint, methods=list(methods))
