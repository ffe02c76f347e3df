// Direct reply-to with amqplib, written the way the RabbitMQ tutorial's RPC client is: consume
// amq.rabbitmq.reply-to in no-ack mode, publish requests with replyTo set to it, match replies by
// correlationId. Then RabbitMQ's answers to misuse. Run by tests/integration/test_amqplib.py with
// AMQP_URL set; exits 0 and prints "ok" when every check passed.
"use strict";
const amqp = require("amqplib");

const REPLY_TO = "amq.rabbitmq.reply-to";

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function rpcRoundTrip(url) {
  const server = await amqp.connect(url);
  const client = await amqp.connect(url);
  try {
    const serverChannel = await server.createChannel();
    const { queue } = await serverChannel.assertQueue("", { exclusive: true });
    await serverChannel.consume(queue, (request) => {
      check(request.properties.replyTo.startsWith(REPLY_TO + "."), "replyTo not rewritten");
      serverChannel.sendToQueue(
        request.properties.replyTo,
        Buffer.from(request.content.toString().toUpperCase()),
        { correlationId: request.properties.correlationId },
      );
      serverChannel.ack(request);
    });

    const channel = await client.createChannel();
    const waiting = new Map();
    await channel.consume(
      REPLY_TO,
      (reply) => {
        check(reply.fields.exchange === "", "reply not from the default exchange");
        check(reply.fields.routingKey.startsWith(REPLY_TO + "."), "reply routing key");
        waiting.get(reply.properties.correlationId)(reply.content.toString());
      },
      { noAck: true },
    );
    const calls = Array.from({ length: 20 }, (_, n) =>
      new Promise((resolve) => {
        waiting.set(String(n), resolve);
        channel.sendToQueue(queue, Buffer.from(`call ${n}`), {
          correlationId: String(n),
          replyTo: REPLY_TO,
        });
      }),
    );
    const answers = await Promise.all(calls);
    answers.forEach((answer, n) => check(answer === `CALL ${n}`, `reply ${n} was ${answer}`));
  } finally {
    await client.close();
    await server.close();
  }
}

async function expectChannelError(connection, action, text) {
  const channel = await connection.createChannel();
  channel.on("error", () => {}); // the failure is asserted below
  try {
    await action(channel);
  } catch (error) {
    check(error.code === 406, `expected 406, got ${error.code}: ${error.message}`);
    check(error.message.includes(`PRECONDITION_FAILED - ${text}`), error.message);
    return;
  }
  throw new Error(`no channel error for: ${text}`);
}

async function misuse(url) {
  const connection = await amqp.connect(url);
  connection.on("error", () => {});
  try {
    await expectChannelError(
      connection,
      (channel) => channel.consume(REPLY_TO, () => {}, { noAck: false }),
      "reply consumer cannot acknowledge",
    );
    await expectChannelError(
      connection,
      async (channel) => {
        await channel.consume(REPLY_TO, () => {}, { noAck: true });
        await channel.consume(REPLY_TO, () => {}, { noAck: true });
      },
      "reply consumer already set",
    );
    await expectChannelError(
      connection,
      async (channel) => {
        channel.sendToQueue("anywhere", Buffer.from("x"), { replyTo: REPLY_TO });
        await channel.checkExchange("amq.direct");
      },
      "fast reply consumer does not exist",
    );
  } finally {
    await connection.close();
  }
}

async function main() {
  const url = process.env.AMQP_URL;
  check(url, "AMQP_URL is not set");
  await rpcRoundTrip(url);
  await misuse(url);
  console.log("ok");
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
