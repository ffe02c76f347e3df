# Sans-IO AMQP 0-9-1: bytes in, events out, bytes to send collected in a buffer.
# No trio, no sockets, no clock of its own (callers pass `now`).
