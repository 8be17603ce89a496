// A server restart (SIGTERM, then the same binary on the same database): the page says the
// server is restarting, reconnects by itself and is back in the same room, with no reload.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { launch, player, PASSWORD, createRoom, shot, uniq, onFailure, DESKTOP } from './lib.mjs';

const BIN = process.env.LIAR_BIN;

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startServer(port, db) {
  const child = spawn(BIN, [], {
    env: {
      ...process.env,
      LIAR_BIND: `127.0.0.1:${port}`,
      LIAR_DATABASE_URL: `sqlite://${db}`,
      LIAR_LOGIN_PER_IP__LIMIT: '1000',
      LIAR_REGISTER_PER_IP__LIMIT: '1000',
      LIAR_SHUTDOWN_RECONNECT_AFTER_MS: '300',
    },
    stdio: 'ignore',
  });
  return child;
}

async function healthy(base) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no server at ${base}`);
}

test('a restarted server: the page says so, reconnects by itself and stays in its room', { timeout: 120000, skip: !BIN && 'needs LIAR_BIN (run through e2e/run.sh)' }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const db = join(mkdtempSync(join(tmpdir(), 'liar-restart-')), 'liar.db');
  let server = startServer(port, db);
  t.after(() => server.kill('SIGKILL'));
  await healthy(base);
  const browser = await launch();
  t.after(() => browser.close());
  const p = await player(browser, { name: uniq('rst'), viewport: DESKTOP });
  await onFailure('restart', [p], async () => {
    await p.page.goto(`${base}/register`);
    await p.tid('register-email').fill(p.email);
    await p.tid('register-username').fill(p.name);
    await p.tid('register-password').fill(PASSWORD);
    await p.tid('register-submit').click();
    await p.tid('room-list').waitFor();
    const room = await createRoom(p, uniq('Restart '));
    const url = p.page.url();
    await p.page.waitForFunction(() => window.__liar.stomp.state === 'online');

    const exited = new Promise((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    const banner = p.tid('reconnecting');
    await banner.waitFor({ timeout: 10000 });
    assert.match(await banner.textContent(), /restarting/i, 'the page says the server is restarting');
    await shot(p.page, 'restart-1-banner');
    assert.equal(await exited, 0, 'the server exits 0 on SIGTERM');

    server = startServer(port, db);
    await healthy(base);
    await p.page.waitForFunction(() => window.__liar.stomp.state === 'online', null, { timeout: 20000 });
    await banner.waitFor({ state: 'detached', timeout: 10000 });
    assert.equal(p.page.url(), url, 'no reload, the same room');
    await p.tid('room-name').waitFor();
    const view = await (await fetch(`${base}/api/rooms/${room.roomId}`)).json();
    assert.equal(view.code, room.code, 'the room survived the restart');
    await p.page.waitForFunction((id) => window.__liar.room?.roomId === id && window.__liar.room?.seq !== null, room.roomId, { timeout: 10000 });
    await shot(p.page, 'restart-2-back');
  });
});
