# The interop suite: the same scenarios, written the idiomatic way for each real client library,
# run against any AMQP broker (ours by default, a private RabbitMQ node, or a URL).
#
# Rules kept here: every scenario runs in its own process (a hung or crashing client cannot hurt the
# others), uses queue and exchange names no other scenario uses, and needs nothing but a URL.
# Nothing in this package except the runner imports amqp_broker.
