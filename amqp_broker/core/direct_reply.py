# Direct reply-to: RabbitMQ's `amq.rabbitmq.reply-to` pseudo-queue, which lets an RPC client take
# replies without declaring a queue. This module only knows which channel consumes replies under
# which name; the broker does the publishing and delivering.
#
# Rules kept here (rabbit_channel in RabbitMQ 3.10, checked against a live 3.10.8 node):
# - A channel has at most one reply consumer, and it must be in no-ack mode (406 otherwise, with
#   RabbitMQ's texts).
# - Every consume gets a fresh, unguessable name `amq.rabbitmq.reply-to.<token>`: a name handed out
#   before a cancel, or by a channel that has closed, names nobody, so a late reply is dropped.
# - Names are broker-wide, as RabbitMQ's are (they encode the channel's process id): a responder on
#   any connection can reply.
from __future__ import annotations

import secrets
from dataclasses import dataclass

from amqp_broker.core.channel import ChannelState
from amqp_broker.errors import AMQPError, ReplyCode

PSEUDO_QUEUE = "amq.rabbitmq.reply-to"
NAME_PREFIX = PSEUDO_QUEUE + "."


def is_reply_name(name: str) -> bool:
    """Whether a routing key on the default exchange addresses a reply consumer."""
    return name.startswith(NAME_PREFIX)


@dataclass(frozen=True, slots=True)
class ReplyConsumer:
    tag: str
    name: str  # what a request's reply_to becomes, and the responder's routing key
    channel: ChannelState


class ReplyRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, ReplyConsumer] = {}
        self._by_channel: dict[ChannelState, ReplyConsumer] = {}

    def consume(self, channel: ChannelState, tag: str, no_ack: bool) -> ReplyConsumer:
        """Make `channel` the reply consumer. Raises AMQPError(406) in ack mode, or when the
        channel already has one (the ack-mode error wins, as in RabbitMQ)."""
        if not no_ack:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "reply consumer cannot acknowledge")
        if channel in self._by_channel:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "reply consumer already set")
        name = NAME_PREFIX + secrets.token_urlsafe(24)
        consumer = ReplyConsumer(tag, name, channel)
        self._by_name[name] = consumer
        self._by_channel[channel] = consumer
        return consumer

    def consumer_of(self, channel: ChannelState) -> ReplyConsumer | None:
        return self._by_channel.get(channel)

    def find(self, name: str) -> ReplyConsumer | None:
        return self._by_name.get(name)

    def cancel(self, channel: ChannelState, tag: str | None = None) -> bool:
        """Forget the channel's reply consumer (only if its tag is `tag`, when given).
        Returns whether one was removed."""
        consumer = self._by_channel.get(channel)
        if consumer is None or (tag is not None and consumer.tag != tag):
            return False
        del self._by_channel[channel]
        del self._by_name[consumer.name]
        return True

    def address_for(self, channel: ChannelState) -> str:
        """The name a request published on `channel` with reply_to `amq.rabbitmq.reply-to`
        carries instead. Raises AMQPError(406) when the channel does not consume replies."""
        consumer = self._by_channel.get(channel)
        if consumer is None:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "fast reply consumer does not exist")
        return consumer.name
