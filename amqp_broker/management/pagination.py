# RabbitMQ's pagination of the big listings (queues, exchanges, connections, channels, vhosts):
# `?page=N` turns the JSON list into one page of it, wrapped with its counts. Clients page through
# them this way (AMQPStorm's ManagementApi lists everything page by page).
#
# Rules kept here (measured on RabbitMQ 3.10.8):
# - Only `page` switches paging on; `page_size` (default 100, at most 500), `name` and `use_regex`
#   count only then. `name` keeps the items whose name contains it, ignoring case, or, with
#   use_regex=true, matches it as a case-insensitive regular expression anywhere in the name.
# - Sort (`sort` or, by default, vhost then name; routing.shape), filter, then cut the page;
#   `columns` applies to the items afterwards.
# - Page 1 of nothing is an empty page; any later page past the end is 400 page_out_of_range.
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from amqp_broker.management.errors import ApiError, bad_request

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 500


def wants_page(query: Mapping[str, str]) -> bool:
    return "page" in query


def _invalid() -> ApiError:
    return bad_request("Pagination parameters are invalid")


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _invalid() from None


def _name_filter(query: Mapping[str, str]) -> re.Pattern[str] | None:
    name = query.get("name", "")
    if not name:
        return None
    pattern = name if query.get("use_regex") == "true" else re.escape(name)
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        raise _invalid() from None


def default_order(item: Any) -> tuple[str, str]:
    """RabbitMQ's order of a paged listing without `sort`: by vhost, then name."""
    if not isinstance(item, dict):
        return ("", "")
    return (str(item.get("vhost", "")), str(item.get("name", "")))


def paginate(query: Mapping[str, str], items: list[Any]) -> dict[str, Any]:
    """One page of `items` (already in order) with RabbitMQ's counts."""
    page = _integer(query["page"])
    raw_size = query.get("page_size")
    size = PAGE_SIZE_DEFAULT if raw_size is None else _integer(raw_size)
    if page < 1 or not 1 <= size <= PAGE_SIZE_MAX:
        shown_size = "undefined" if raw_size is None else str(size)
        raise ApiError(
            400,
            "invalid_pagination_parameters",
            f"Invalid pagination parameters: page number {page}, page size {shown_size}",
        )
    name_filter = _name_filter(query)
    kept = [
        item
        for item in items
        if name_filter is None
        or (isinstance(item, dict) and name_filter.search(str(item.get("name", ""))))
    ]
    page_count = math.ceil(len(kept) / size)
    if page > max(page_count, 1):
        raise ApiError(
            400,
            "page_out_of_range",
            f"Page out of range, page: {page} page size: {size}, len: {len(kept)}",
        )
    chosen = kept[(page - 1) * size : page * size]
    return {
        "filtered_count": len(kept),
        "item_count": len(chosen),
        "items": chosen,
        "page": page,
        "page_count": page_count,
        "page_size": size,
        "total_count": len(items),
    }
