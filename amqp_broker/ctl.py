# `amqp-broker ctl VERB`: admin verbs that talk to a running broker's management HTTP API (the
# same API rabbitmqadmin uses), printing a table or JSON.
#
# Rules kept here:
# - Standard library only (urllib, json): the client starts fast and needs nothing the broker
#   does not already install.
# - Names go into URLs percent-encoded as one segment each (the vhost "/" is %2F).
# - Exit codes: 0 done, 1 the API refused (its RabbitMQ-style reason is printed), 2 no broker
#   answered at the URL.
from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

DEFAULT_URL = "http://127.0.0.1:15672"

# verb -> (API path under /api, the columns the table shows)
LISTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "list-queues": (
        "queues",
        ("vhost", "name", "messages_ready", "messages_unacknowledged", "consumers"),
    ),
    "list-exchanges": ("exchanges", ("vhost", "name", "type", "durable", "auto_delete")),
    "list-bindings": (
        "bindings",
        ("vhost", "source", "destination", "destination_type", "routing_key"),
    ),
    "list-connections": ("connections", ("name", "user", "vhost", "channels", "state")),
}


class RefusedError(Exception):
    """The API answered with an error status; the message is its reason."""


class UnreachableError(Exception):
    """Nothing answered at the management URL."""


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class ManagementClient:
    """A minimal client for the management API: JSON in, JSON out, basic auth."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.headers = {"Authorization": f"Basic {token}"}

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """The decoded JSON answer (None for 201/204); raises RefusedError or UnreachableError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + "/api" + path, data=data, method=method)
        for name, value in {**self.headers, **(headers or {})}.items():
            request.add_header(name, value)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise RefusedError(_reason(error.code, error.read())) from None
        except (urllib.error.URLError, OSError) as error:
            raise UnreachableError(f"no management API at {self.url}: {error}") from None
        return json.loads(text) if text else None


def _reason(status: int, text: bytes) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return f"HTTP {status}"
    if isinstance(body, dict) and "reason" in body:
        reason = body["reason"]
        return f"HTTP {status}: {reason if isinstance(reason, str) else json.dumps(reason)}"
    return f"HTTP {status}"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """Aligned columns with a header line, one row per object."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)
    ]
    for line in [list(columns), *cells]:
        out.write(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
            + "\n"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amqp-broker ctl",
        description="Administer a running broker through its management HTTP API "
        "(start it with --management-port).",
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"management API (default {DEFAULT_URL})"
    )
    parser.add_argument("--user", default="guest", help="a user with the administrator tag")
    parser.add_argument("--password", default="guest")
    parser.add_argument("--vhost", help="only this vhost (listings); the queue's vhost (default /)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (path, _) in LISTINGS.items():
        verbs.add_parser(verb, help=f"list {path}")
    for verb, help_text in (
        ("purge-queue", "drop a queue's ready messages"),
        ("delete-queue", "delete a queue (its consumers are cancelled)"),
    ):
        verbs.add_parser(verb, help=help_text).add_argument("queue")
    close = verbs.add_parser("close-connection", help="close a connection (320 to the client)")
    close.add_argument("name", help="the connection's name, as list-connections shows it")
    close.add_argument("--reason", help="the close text (default: Closed via management plugin)")
    export = verbs.add_parser(
        "export-definitions", help="write definitions JSON to FILE (- for stdout)"
    )
    export.add_argument("file")
    load = verbs.add_parser(
        "import-definitions", help="load definitions JSON from FILE (- for stdin)"
    )
    load.add_argument("file")
    return parser


def _run(args: argparse.Namespace, client: ManagementClient, out: TextIO) -> None:
    vhost = args.vhost
    if args.verb in LISTINGS:
        path, columns = LISTINGS[args.verb]
        scoped = vhost is not None and path != "connections"
        rows = client.request("GET", f"/{path}/{_segment(vhost)}" if scoped else f"/{path}")
        if vhost is not None and path == "connections":
            rows = [row for row in rows if row.get("vhost") == vhost]
        if args.json:
            json.dump(rows, out, indent=2, sort_keys=True)
            out.write("\n")
        else:
            print_table(rows, columns, out)
        return
    actions: dict[str, Callable[[], None]] = {
        "purge-queue": lambda: client.request(
            "DELETE", f"/queues/{_segment(vhost or '/')}/{_segment(args.queue)}/contents"
        ),
        "delete-queue": lambda: client.request(
            "DELETE", f"/queues/{_segment(vhost or '/')}/{_segment(args.queue)}"
        ),
        "close-connection": lambda: client.request(
            "DELETE",
            f"/connections/{_segment(args.name)}",
            headers={"X-Reason": args.reason} if args.reason else None,
        ),
        "export-definitions": lambda: _export(client, args.file, vhost, out),
        "import-definitions": lambda: _import(client, args.file, vhost),
    }
    actions[args.verb]()


def _definitions_path(vhost: str | None) -> str:
    return "/definitions" if vhost is None else f"/definitions/{_segment(vhost)}"


def _export(client: ManagementClient, file: str, vhost: str | None, out: TextIO) -> None:
    text = json.dumps(client.request("GET", _definitions_path(vhost)), indent=2) + "\n"
    if file == "-":
        out.write(text)
    else:
        Path(file).write_text(text, encoding="utf-8")


def _import(client: ManagementClient, file: str, vhost: str | None) -> None:
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    try:
        definitions = json.loads(text)
    except ValueError as error:
        raise RefusedError(f"{file} is not JSON: {error}") from None
    client.request("POST", _definitions_path(vhost), definitions)


def main(argv: Sequence[str], out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = ManagementClient(args.url, args.user, args.password)
    try:
        _run(args, client, out or sys.stdout)
    except RefusedError as error:
        print(f"amqp-broker ctl {args.verb}: {error}", file=sys.stderr)
        return 1
    except UnreachableError as error:
        print(f"amqp-broker ctl: {error}", file=sys.stderr)
        return 2
    return 0
