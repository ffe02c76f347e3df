# The amqps listener: TLS with certificates made at test time (trustme), client-certificate
# verification, and the EXTERNAL mechanism mapping a certificate's CN to a user. pika runs in a
# worker thread while the broker serves in the test's trio run.
from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pika
import pika.credentials
import pika.exceptions
import pytest
import trio
import trustme

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import RunningBroker, open_broker
from amqp_broker.tls import common_name, server_context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("tls")
    server = ca.issue_cert("localhost", "127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    alice = ca.issue_cert("alice.example", common_name="alice")
    alice.private_key_and_cert_chain_pem.write_to_path(str(directory / "alice.pem"))
    stranger = trustme.CA().issue_cert("alice.example", common_name="alice")
    stranger.private_key_and_cert_chain_pem.write_to_path(str(directory / "forged.pem"))
    return {name: str(directory / f"{name}.pem") for name in ("server", "ca", "alice", "forged")}


def _config(files: dict[str, str], **options: Any) -> BrokerConfig:
    return BrokerConfig(port=0, tls_port=0, tls_certfile=files["server"], **options)


def _client_context(files: dict[str, str], certificate: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=files["ca"])
    if certificate is not None:
        context.load_cert_chain(files[certificate])
    return context


def _parameters(
    broker: RunningBroker, context: ssl.SSLContext, credentials: Any = None
) -> pika.ConnectionParameters:
    address = broker.server.tls_address
    assert address is not None
    return pika.ConnectionParameters(
        "127.0.0.1",
        address.port,
        credentials=credentials or pika.PlainCredentials("guest", "guest"),
        ssl_options=pika.SSLOptions(context, "localhost"),
    )


async def _in_thread(fn: Callable[[], Any]) -> Any:
    with trio.fail_after(30):
        return await trio.to_thread.run_sync(fn)


@pytest.fixture
async def tls_broker(files: dict[str, str]) -> AsyncIterator[RunningBroker]:
    async with open_broker(_config(files)) as broker:
        yield broker


async def test_amqps_listener_carries_a_whole_session(
    tls_broker: RunningBroker, files: dict[str, str]
) -> None:
    assert tls_broker.server.tls_address is not None
    assert tls_broker.server.tls_address.url.startswith("amqps://")
    parameters = _parameters(tls_broker, _client_context(files))

    def session() -> bytes:
        with pika.BlockingConnection(parameters) as connection:
            channel = connection.channel()
            channel.queue_declare("secure")
            channel.basic_publish("", "secure", b"over tls")
            _, _, body = channel.basic_get("secure", auto_ack=True)
            return bytes(body)

    assert await _in_thread(session) == b"over tls"


async def test_plain_amqp_on_the_tls_port_is_dropped_and_the_broker_serves_on(
    tls_broker: RunningBroker, files: dict[str, str]
) -> None:
    address = tls_broker.server.tls_address
    assert address is not None
    stream = await trio.open_tcp_stream("127.0.0.1", address.port)
    await stream.send_all(b"AMQP\x00\x00\x09\x01")
    with trio.fail_after(10):
        while await stream.receive_some(4096):
            pass
    await stream.aclose()
    parameters = _parameters(tls_broker, _client_context(files))
    await _in_thread(lambda: pika.BlockingConnection(parameters).close())


async def test_external_maps_the_certificate_cn_to_a_user(files: dict[str, str]) -> None:
    config = _config(files, tls_verify_peer=True, tls_cafile=files["ca"])
    async with open_broker(config) as broker:
        broker.broker.users.put_user("alice")  # no password: only a certificate logs in
        broker.broker.users.set_permissions("alice", "/")
        parameters = _parameters(
            broker, _client_context(files, "alice"), pika.credentials.ExternalCredentials()
        )
        seen: list[str] = []

        def session() -> None:
            with pika.BlockingConnection(parameters) as connection:
                connection.channel().queue_declare("alice-q")
                seen.extend(conn.username for conn in broker.broker.iter_connections())

        await _in_thread(session)
        assert seen == ["alice"]


async def test_external_needs_an_existing_user(files: dict[str, str]) -> None:
    config = _config(files, tls_verify_peer=True, tls_cafile=files["ca"])
    async with open_broker(config) as broker:
        parameters = _parameters(
            broker, _client_context(files, "alice"), pika.credentials.ExternalCredentials()
        )
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
            await _in_thread(lambda: pika.BlockingConnection(parameters))
        assert "Login was refused using authentication mechanism EXTERNAL" in str(info.value)


async def test_external_is_not_offered_without_a_client_certificate(
    files: dict[str, str],
) -> None:
    config = _config(files, tls_verify_peer=True, tls_cafile=files["ca"])
    async with open_broker(config) as broker:
        broker.broker.users.put_user("alice")
        broker.broker.users.set_permissions("alice", "/")
        parameters = _parameters(
            broker, _client_context(files), pika.credentials.ExternalCredentials()
        )
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            await _in_thread(lambda: pika.BlockingConnection(parameters))
        # PLAIN still works on the same listener.
        plain = _parameters(broker, _client_context(files))
        await _in_thread(lambda: pika.BlockingConnection(plain).close())


async def test_required_client_certificate_refuses_clients_without_one_or_with_a_forged_one(
    files: dict[str, str],
) -> None:
    config = _config(files, tls_fail_if_no_peer_cert=True, tls_cafile=files["ca"])
    async with open_broker(config) as broker:
        for certificate in (None, "forged"):
            parameters = _parameters(broker, _client_context(files, certificate))
            with pytest.raises(pika.exceptions.AMQPConnectionError):
                await _in_thread(lambda p=parameters: pika.BlockingConnection(p))
        good = _parameters(broker, _client_context(files, "alice"))
        await _in_thread(lambda: pika.BlockingConnection(good).close())


def test_no_certificate_means_no_tls_listener() -> None:
    assert server_context(BrokerConfig()) is None


def test_common_name_reads_the_subject() -> None:
    subject = ((("countryName", "NZ"),), (("commonName", "alice"),))
    assert common_name({"subject": subject}) == "alice"
    assert common_name({}) is None
    assert common_name(None) is None


def test_missing_certificate_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        server_context(BrokerConfig(tls_certfile=str(tmp_path / "missing.pem")))
