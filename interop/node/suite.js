// node's amqplib (promise API) speaking the interop harness protocol (see interop/harness.py):
//   node suite.js --list        the scenarios implemented here
//   node suite.js SCENARIO...   with AMQP_URL set; runs them in order, printing one line per scenario:
//                               {"scenario", "ok", "detail", "observed"}
'use strict';

const crypto = require('node:crypto');
const amqp = require('amqplib');

const HEARTBEAT = 1;
const IDLE_MS = 3500;
// Larger than frame_max (131072), so it travels as several body frames (as harness.LARGE_BODY).
const LARGE_BODY = Buffer.concat([
  Buffer.concat(Array.from({ length: 4096 }, () => Buffer.from([...Array(256).keys()]))),
  Buffer.from('end'),
]);

class ScenarioError extends Error {}

function check(condition, message) {
  if (!condition) throw new ScenarioError(message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withHeartbeat(url, seconds) {
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${seconds}`;
}

// Channel errors reject the pending call and are also emitted: the scenarios look at the former.
async function channel(conn, confirm = false) {
  const ch = confirm ? await conn.createConfirmChannel() : await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

async function declared(ctx, ch, suffix = 'q') {
  return (await ch.assertQueue(ctx.name(suffix), { durable: false })).queue;
}

function nextMessage(ch, queue, options = {}) {
  return new Promise((resolve, reject) => {
    ch.consume(queue, (msg) => msg && resolve(msg), options).catch(reject);
  });
}

async function waitFor(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    check(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(10);
  }
}

const scenarios = {
  async connect(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    check(ch, 'no channel');
    await conn.close();
  },

  async declare_bind(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const exchange = ctx.name('x');
    await ch.assertExchange(exchange, 'direct', { durable: false });
    const queue = await declared(ctx, ch);
    await ch.bindQueue(queue, exchange, 'k');
    ch.publish(exchange, 'k', Buffer.from('routed'));
    ch.publish(exchange, 'other', Buffer.from('dropped'));
    const got = await ch.get(queue, { noAck: true });
    check(got && got.content.toString() === 'routed', 'bound key not routed');
    check((await ch.get(queue, { noAck: true })) === false, 'unbound key routed');
    await ch.unbindQueue(queue, exchange, 'k');
    ch.publish(exchange, 'k', Buffer.from('late'));
    check((await ch.get(queue, { noAck: true })) === false, 'routed after unbind');
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
    await conn.close();
  },

  async publish_consume(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    for (let i = 0; i < 10; i++) {
      ch.sendToQueue(queue, Buffer.from(`m${i}`), { headers: { i }, contentType: 'text/plain' });
    }
    const received = [];
    await ch.consume(queue, (msg) => {
      if (msg === null) return; // cancelled when the queue is deleted
      received.push(`${msg.content}:${msg.properties.headers.i}`);
      ch.ack(msg);
    });
    await waitFor(() => received.length === 10, 'ten deliveries');
    const expected = Array.from({ length: 10 }, (_, i) => `m${i}:${i}`);
    check(JSON.stringify(received) === JSON.stringify(expected), `got ${received}`);
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async basic_get(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    check((await ch.get(queue)) === false, 'get-empty expected');
    ch.sendToQueue(queue, Buffer.from('a'));
    ch.sendToQueue(queue, Buffer.from('b'));
    const msg = await ch.get(queue);
    check(msg && msg.content.toString() === 'a', 'first message expected');
    ch.ack(msg);
    ctx.observe(`message_count=${msg.fields.messageCount} redelivered=${msg.fields.redelivered}`);
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async confirms(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn, true);
    const queue = await declared(ctx, ch);
    const returned = [];
    ch.on('return', (msg) => returned.push(msg));
    for (let i = 0; i < 20; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    ch.publish('', ctx.name('nowhere'), Buffer.from('x'), { mandatory: true });
    await ch.waitForConfirms();
    check(returned.length === 1, `returned ${returned.length}`);
    ctx.observe(`returned ${returned[0].fields.replyCode} ${returned[0].fields.replyText}`);
    check((await ch.checkQueue(queue)).messageCount === 20, 'count');
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async qos_prefetch(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.prefetch(2);
    const delivered = [];
    await ch.consume(queue, (msg) => msg && delivered.push(msg));
    await waitFor(() => delivered.length === 2, 'two deliveries');
    let ready = (await ch.checkQueue(queue)).messageCount;
    check(ready === 3 && delivered.length === 2, `delivered ${delivered.length}, ready ${ready}`);
    ch.ack(delivered[0]);
    await waitFor(() => delivered.length === 3, 'the third delivery');
    ready = (await ch.checkQueue(queue)).messageCount;
    check(ready === 2, `after ack: ready ${ready}`);
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async nack_requeue(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    ch.sendToQueue(queue, Buffer.from('m'));
    let msg = await ch.get(queue);
    check(msg && !msg.fields.redelivered, 'fresh message redelivered');
    ch.nack(msg, false, true);
    msg = await ch.get(queue);
    check(msg && msg.fields.redelivered, 'nacked message not redelivered');
    ch.reject(msg, true);
    msg = await ch.get(queue);
    check(msg && msg.fields.redelivered, 'rejected message not redelivered');
    ch.reject(msg, false);
    check((await ch.get(queue)) === false, 'rejected without requeue came back');
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async recover(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    ch.sendToQueue(queue, Buffer.from('m'));
    const seen = [];
    await ch.consume(queue, (msg) => msg && seen.push(msg.fields.redelivered));
    await waitFor(() => seen.length === 1, 'the first delivery');
    await ch.recover();
    await waitFor(() => seen.length === 2, 'the redelivery');
    check(JSON.stringify(seen) === '[false,true]', `redelivered flags ${seen}`);
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async exchange_types(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    const allH = { 'x-match': 'all', h: '1' };
    const cases = [
      ['direct', 'a', {}, 'a', undefined, true],
      ['fanout', '', {}, 'anything', undefined, true],
      ['topic', 'a.*.c', {}, 'a.b.c', undefined, true],
      ['topic', 'a.#', {}, 'b.a', undefined, false],
      ['headers', '', allH, '', { h: '1' }, true],
      ['headers', '', allH, '', { h: '2' }, false],
    ];
    for (const [i, [kind, binding, args, key, headers, routed]] of cases.entries()) {
      const exchange = ctx.name(`${kind}${i}`);
      await ch.assertExchange(exchange, kind, { durable: false, autoDelete: true });
      await ch.bindQueue(queue, exchange, binding, args);
      ch.publish(exchange, key, Buffer.from('m'), { headers });
      const got = (await ch.get(queue, { noAck: true })) !== false;
      check(got === routed, `${kind} ${binding} ${JSON.stringify(args)} '${key}': routed=${got}`);
    }
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async large_message(ctx) {
    const conn = await amqp.connect(ctx.url);
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    ch.sendToQueue(queue, LARGE_BODY);
    const msg = await nextMessage(ch, queue, { noAck: true });
    check(LARGE_BODY.equals(msg.content), `body of ${msg.content.length} bytes differs`);
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async heartbeat_idle(ctx) {
    const conn = await amqp.connect(withHeartbeat(ctx.url, HEARTBEAT));
    const ch = await channel(conn);
    const queue = await declared(ctx, ch);
    await sleep(IDLE_MS); // amqplib's heartbeater runs on node's event loop meanwhile
    ch.sendToQueue(queue, Buffer.from('still here'));
    const msg = await ch.get(queue, { noAck: true });
    check(msg && msg.content.toString() === 'still here', 'unusable after idling');
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async reconnect(ctx) {
    let conn = await amqp.connect(ctx.url);
    let ch = await channel(conn);
    const queue = await declared(ctx, ch);
    ch.sendToQueue(queue, Buffer.from('m'));
    check(await ch.get(queue), 'no message'); // left unacked: closing requeues it
    await conn.close();
    conn = await amqp.connect(ctx.url);
    ch = await channel(conn);
    const msg = await ch.get(queue, { noAck: true });
    check(msg && msg.fields.redelivered, 'unacked message not requeued');
    await ch.deleteQueue(queue);
    await conn.close();
  },

  async error_404(ctx) {
    const conn = await amqp.connect(ctx.url);
    try {
      await (await channel(conn)).checkQueue(ctx.name('missing'));
      throw new ScenarioError('passive declare of a missing queue succeeded');
    } catch (err) {
      if (err instanceof ScenarioError) throw err;
      check(err.code === 404, `code ${err.code}`);
      ctx.observe(`${err.code} ${err.message}`);
    }
    try {
      await (await channel(conn)).checkExchange(ctx.name('nox'));
      throw new ScenarioError('passive declare of a missing exchange succeeded');
    } catch (err) {
      if (err instanceof ScenarioError) throw err;
      ctx.observe(`${err.code} ${err.message}`);
    }
    await conn.close();
  },

  async error_406(ctx) {
    const conn = await amqp.connect(ctx.url);
    const queue = await declared(ctx, await channel(conn));
    try {
      await (await channel(conn)).assertQueue(queue, { durable: true });
      throw new ScenarioError('inequivalent redeclare succeeded');
    } catch (err) {
      if (err instanceof ScenarioError) throw err;
      check(err.code === 406, `code ${err.code}`);
      ctx.observe(`${err.code} ${err.message}`);
    }
    await (await channel(conn)).deleteQueue(queue);
    await conn.close();
  },
};

async function run(name, url) {
  const prefix = `interop.amqplib.${name}.${crypto.randomBytes(4).toString('hex')}`;
  const observed = [];
  const ctx = {
    url,
    name: (suffix) => `${prefix}.${suffix}`,
    observe: (value) => observed.push(String(value).split(prefix).join('<p>')),
  };
  try {
    await scenarios[name](ctx);
    return { ok: true, detail: '', observed: observed.length ? observed.join('; ') : null };
  } catch (err) {
    const detail = `${err.constructor.name}: ${err.message}`.split(prefix).join('<p>');
    return { ok: false, detail, trace: String(err.stack) };
  }
}

async function main(args) {
  if (args.length === 1 && args[0] === '--list') {
    console.log(Object.keys(scenarios).join('\n'));
    return;
  }
  if (args.length === 0 || !args.every((name) => name in scenarios)) {
    console.error(`usage: --list | SCENARIO... from ${Object.keys(scenarios)}`);
    process.exit(2);
  }
  const url = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/';
  for (const name of args) {
    const result = await run(name, url);
    await new Promise((resolve) => process.stdout.write(`${JSON.stringify({ scenario: name, ...result })}\n`, resolve));
  }
  process.exit(0);
}

main(process.argv.slice(2));
