# TLS for the amqps listener: the server's ssl.SSLContext from the config, and the user name a
# client certificate carries (its subject CN, for the EXTERNAL mechanism).
#
# Rules kept here: only the standard ssl module; TLS 1.2 or newer; a certificate is only trusted
# for EXTERNAL when the context verified it (verify_peer with a CA file).
from __future__ import annotations

import ssl
from typing import Any

from amqp_broker.config import BrokerConfig


def server_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The context for the amqps listener, or None when no certificate is configured.

    Raises OSError / ssl.SSLError when a file cannot be read or does not match.
    """
    if config.tls_certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_certfile, config.tls_keyfile)
    if config.tls_cafile is not None:
        context.load_verify_locations(config.tls_cafile)
    if config.tls_fail_if_no_peer_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    elif config.tls_verify_peer:
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def common_name(certificate: dict[str, Any] | None) -> str | None:
    """The subject's CN of a verified peer certificate (ssl's getpeercert() form), if any."""
    if not certificate:
        return None
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str):
                return value
    return None
