// A member finds the room he sits in from any browser: logging in from a fresh browser context
// (nothing in localStorage) lands him in his room, in the lobby as in a running game with his
// card; the old window is logged out with the session-replaced explanation. A room remembered
// in localStorage that the server says he is not in is forgotten without a subscription.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, createRoom, joinByCode, card, waitPhase, shot, uniq, onFailure, BASE, PASSWORD, PHONE, DESKTOP } from './lib.mjs';

/** Logs `p` in through the form of a fresh context and waits for the room screen. */
async function loginIntoRoom(p) {
  await p.page.goto(`${BASE}/login`);
  await p.tid('login-form').waitFor();
  assert.deepEqual(await p.page.evaluate(() => [localStorage.getItem('liar.auth'), localStorage.getItem('liar.room')]), [null, null], 'a fresh context');
  await p.tid('login-email').fill(p.email);
  await p.tid('login-password').fill(PASSWORD);
  await p.tid('login-submit').click();
  await p.tid('room-code').waitFor({ timeout: 15000 });
  p.userId = await p.page.evaluate(() => window.__liar.me.userId);
}

async function replaced(p) {
  const notice = p.tid('session-notice');
  await notice.waitFor({ timeout: 15000 });
  assert.equal(await notice.getAttribute('data-code'), 'SESSION_REPLACED');
  await p.tid('login-form').waitFor();
}

test('logging in from a fresh browser lands the member in his room, in the lobby and mid-game', { timeout: 180000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const name = uniq('mia');
  const host = await player(browser, { name: uniq('host'), viewport: DESKTOP });
  const first = await player(browser, { name, viewport: DESKTOP, locale: 'en-US' });
  const ps = [host, first];
  await onFailure('current-room', ps, async () => {
    await register(host);
    await register(first);
    const room = await createRoom(host, uniq('Where am I '), { hintRounds: 2, hintSeconds: 60, discussionSeconds: 0 });
    await joinByCode(first, room.code);
    await host.page.locator(`[data-testid=member][data-user-id="${first.userId}"]`).waitFor();

    // A fresh context: no tokens, no remembered room. The login goes straight to the room.
    const second = await player(browser, { name, viewport: PHONE, locale: 'ko-KR' });
    ps.push(second);
    await loginIntoRoom(second);
    assert.equal(second.userId, first.userId);
    assert.equal(new URL(second.page.url()).pathname, `/rooms/${room.roomId}`);
    assert.equal((await second.tid('room-code').textContent()).trim(), room.code);
    await second.page.locator('[data-testid=toast]', { hasText: '아직 이 방에' }).waitFor();
    await second.page.locator(`[data-testid=member][data-user-id="${second.userId}"].me`).waitFor();
    assert.equal(await second.page.evaluate(() => JSON.parse(localStorage.getItem('liar.room')).roomId), room.roomId, 'remembered here from now on');
    await shot(second.page, 'current-room-1-fresh-login-phone-ko');

    // The old window is told why it was logged out; the seat stayed with the member.
    await replaced(first);
    await shot(first.page, 'current-room-2-replaced-desktop-en');
    assert.equal(await host.page.locator(`[data-testid=member][data-user-id="${first.userId}"]`).count(), 1, 'still seated');

    // Mid-game: a third player joins, the game starts, and another fresh login finds the game
    // with the same card.
    const third = await player(browser, { name: uniq('ned'), viewport: PHONE });
    ps.push(third);
    await register(third);
    await joinByCode(third, room.code);
    await second.tid('ready-toggle').click();
    await third.tid('ready-toggle').click();
    await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 2);
    await host.tid('start').click();
    const before = await card(second);
    await waitPhase(second, 'hints', 20000);

    const fourth = await player(browser, { name, viewport: DESKTOP, locale: 'en-US' });
    ps.push(fourth);
    await loginIntoRoom(fourth);
    assert.equal(new URL(fourth.page.url()).pathname, `/rooms/${room.roomId}`);
    await fourth.page.locator('[data-testid=toast]', { hasText: 'still seated' }).waitFor();
    assert.deepEqual(await card(fourth), before, 'the same card comes back');
    await waitPhase(fourth, 'hints', 10000);
    assert.equal(await fourth.page.locator(`[data-testid=order-item][data-user-id="${fourth.userId}"].me`).count(), 1, 'his seat in the speaking order');
    await shot(fourth.page, 'current-room-3-fresh-login-mid-game-desktop-en');
    await replaced(second);
  });
});

test('a remembered room the server says he is not in is forgotten', { timeout: 60000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const host = await player(browser, { name: uniq('oda'), viewport: DESKTOP });
  const p = await player(browser, { name: uniq('pam'), viewport: PHONE });
  await onFailure('current-room-stale', [host, p], async () => {
    await register(host);
    await register(p);
    const room = await createRoom(host, uniq('Not yours '));
    // This browser claims he sits in the host's room (left over from another time).
    await p.page.evaluate(([userId, roomId]) => localStorage.setItem('liar.room', JSON.stringify({ userId, roomId })), [p.userId, room.roomId]);
    await p.page.goto(`${BASE}/`);
    await p.tid('room-list').waitFor();
    await p.page.waitForFunction(() => window.__liar.stomp?.state === 'online');
    await p.page.waitForFunction(() => localStorage.getItem('liar.room') === null, null, { timeout: 5000 });
    assert.equal(await p.page.evaluate(() => window.__liar.room), null);
    assert.equal(new URL(p.page.url()).pathname, '/', 'stays where he opened the site');
    assert.equal(await p.tid('current-room').count(), 0, 'no "you are in a room" banner');
    // He never even asked for the room's topic (no refusal came back).
    await p.page.waitForTimeout(500);
    const frames = await p.page.evaluate(() => window.__frames);
    assert.ok(!frames.some((f) => f.includes('FORBIDDEN') || f.includes(`/topic/rooms/${room.roomId}`)), frames.join('\n'));
  });
});
