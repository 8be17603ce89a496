// An unmodified @stomp/stompjs client against a running Liar server (docs/protocol.md).
// Run with tests/js/run.sh, or: LIAR_URL=http://127.0.0.1:8080 node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const BASE = (process.env.LIAR_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const WS_URL = `${BASE.replace(/^http/, 'ws')}/ws`;
const PASSWORD = 'correct horse battery';
const WAIT_MS = 5000;

/** Rejects when `promise` takes longer than `ms`. */
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Registers and logs in a fresh member; resolves to `{ userId, accessToken }`. */
async function member(prefix) {
  const name = `${prefix}${Math.random().toString(36).slice(2, 10)}`;
  const email = `${name}@example.com`;
  const reg = await api('POST', '/api/auth/register', { email, username: name, password: PASSWORD });
  assert.equal(reg.status, 201, JSON.stringify(reg.json));
  const login = await api('POST', '/api/auth/login', { email, password: PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  return { userId: login.json.userId, accessToken: login.json.accessToken };
}

/** A stock stompjs Client over the `ws` package, offering the `v12.stomp` subprotocol. */
function stompClient(accessToken) {
  return new Client({
    webSocketFactory: () => new WebSocket(WS_URL, ['v12.stomp']),
    connectHeaders: { Authorization: `Bearer ${accessToken}` },
    reconnectDelay: 0,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    debug: () => {},
  });
}

/** Activates `client`; resolves with the CONNECTED frame, rejects with the ERROR frame. */
function connect(client) {
  return within(
    new Promise((resolve, reject) => {
      client.onConnect = resolve;
      client.onStompError = (frame) => reject(Object.assign(new Error(frame.headers.message), { frame }));
      client.onWebSocketError = (e) => reject(new Error(`websocket error: ${e.message ?? e}`));
      client.activate();
    }),
    'CONNECTED',
  );
}

/** Subscribes `dest` and returns a function that resolves with the next message body. */
function queue(client, dest, headers = {}) {
  const bodies = [];
  const waiters = [];
  const subscription = client.subscribe(
    dest,
    (msg) => {
      const body = JSON.parse(msg.body);
      const waiter = waiters.shift();
      if (waiter) waiter(body);
      else bodies.push(body);
    },
    headers,
  );
  const next = () =>
    within(
      new Promise((resolve) => (bodies.length ? resolve(bodies.shift()) : waiters.push(resolve))),
      `a message on ${dest}`,
    );
  return { next, pending: bodies, subscription };
}

test('an unmodified stompjs client joins a room and sees its own member.joined', { timeout: 30000 }, async () => {
  const ann = await member('ann');
  const bob = await member('bob');
  const created = await api('POST', '/api/rooms', { name: 'stompjs interop' }, ann.accessToken);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const roomId = created.json.roomId;
  const topic = `/topic/rooms/${roomId}`;

  const client = stompClient(bob.accessToken);
  try {
    const connected = await connect(client);
    assert.equal(connected.headers['user-name'], String(bob.userId));
    assert.ok(connected.headers.session, 'CONNECTED carries a session id');

    const errors = queue(client, '/user/queue/errors');

    // Join, with a receipt.
    const joined = within(new Promise((resolve) => client.watchForReceipt('join-1', resolve)), 'RECEIPT join-1');
    client.publish({
      destination: `/app/rooms/${roomId}/join`,
      body: '{}',
      headers: { receipt: 'join-1', 'content-type': 'application/json' },
    });
    const receipt = await joined;
    assert.equal(receipt.headers['receipt-id'], 'join-1');

    // A fresh subscription starts with a snapshot that already seats bob.
    const live = queue(client, topic);
    const snapshot = await live.next();
    assert.equal(snapshot.type, 'room.snapshot');
    assert.equal(snapshot.roomId, roomId);
    assert.ok(Number.isInteger(snapshot.seq), 'the snapshot carries seq');
    assert.deepEqual(
      snapshot.room.members.map((m) => m.userId),
      [ann.userId, bob.userId],
    );
    live.subscription.unsubscribe();

    // Resuming from the start replays the room's events, bob's member.joined among them.
    const resumed = queue(client, topic, { 'since-seq': '0' });
    const replayed = [];
    while (replayed.length === 0 || replayed.at(-1).seq < snapshot.seq) {
      const e = await resumed.next();
      assert.notEqual(e.type, 'room.snapshot', 'a resume within the buffer replays events');
      replayed.push(e);
    }
    const own = replayed.find((e) => e.type === 'member.joined' && e.userId === bob.userId);
    assert.ok(own, `member.joined for bob in ${JSON.stringify(replayed)}`);
    assert.equal(own.roomId, roomId);
    assert.equal(typeof own.username, 'string');
    for (let i = 1; i < replayed.length; i++) {
      assert.equal(replayed[i].seq, replayed[i - 1].seq + 1, 'seq increases by one');
    }

    // And it goes on live: bob's chat comes back to him.
    client.publish({
      destination: `/app/rooms/${roomId}/chat`,
      body: JSON.stringify({ text: 'hello from stompjs' }),
      headers: { 'content-type': 'application/json' },
    });
    const chat = await resumed.next();
    assert.equal(chat.type, 'chat');
    assert.equal(chat.text, 'hello from stompjs');
    assert.ok(chat.seq > snapshot.seq, 'live events follow the replay');

    assert.deepEqual(errors.pending, [], 'nothing was refused');
  } finally {
    await client.deactivate();
  }
});

test('a stompjs client with a bad token gets an ERROR frame INVALID_TOKEN', { timeout: 15000 }, async () => {
  const client = stompClient('not-a-token');
  try {
    await assert.rejects(connect(client), (err) => {
      assert.equal(err.frame?.headers.message, 'INVALID_TOKEN');
      assert.equal(JSON.parse(err.frame.body).code, 'INVALID_TOKEN');
      return true;
    });
  } finally {
    await client.deactivate();
  }
});
