# A plain HTTP client for the management API tests: stdlib only, so the tests exercise the wire
# format (status codes, headers, JSON bodies) and nothing of ours on the client side.
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    body: Any  # decoded JSON, or None for an empty body
    headers: dict[str, str]


def quote(name: str) -> str:
    """A name as one URL path segment ("/" -> "%2F"), as RabbitMQ's clients send it."""
    return urllib.parse.quote(name, safe="")


class Http:
    def __init__(self, base_url: str, user: str | None = "guest", password: str = "guest"):
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.password = password

    def as_user(self, user: str | None, password: str = "") -> Http:
        return Http(self.base_url, user, password)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, text, got = error.code, error.read(), error.headers
        decoded = json.loads(text) if text and "json" in (got.get("Content-Type") or "") else None
        if decoded is None and text:
            decoded = text.decode()
        return Reply(status, decoded, {key.lower(): value for key, value in got.items()})

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def put(self, path: str, body: Any = None) -> Reply:
        return self.request("PUT", path, body if body is not None else {})

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, body if body is not None else {})

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("DELETE", path, headers=headers)
