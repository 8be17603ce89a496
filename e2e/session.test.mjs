// Sessions seen by a person: a second login elsewhere logs the first window out with a visible
// explanation; registration shows every field error; too many failed logins are explained.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, login, shot, uniq, onFailure, BASE, PHONE, DESKTOP } from './lib.mjs';

test('a second login in another browser logs the first out, with an explanation', { timeout: 120000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const name = uniq('gil');
  const first = await player(browser, { name, viewport: DESKTOP, locale: 'en-US' });
  const second = await player(browser, { name, viewport: PHONE, locale: 'ko-KR' });
  await onFailure('session', [first, second], async () => {
    await register(first);
    await first.page.waitForFunction(() => window.__liar.stomp?.state === 'online');
    await login(second);

    // The first window is told why, on the login screen, without any action of its own.
    const notice = first.tid('session-notice');
    await notice.waitFor({ timeout: 15000 });
    assert.equal(await notice.getAttribute('data-code'), 'SESSION_REPLACED');
    assert.match(await notice.textContent(), /logged in somewhere else/);
    await first.tid('login-form').waitFor();
    assert.ok(first.page.url().endsWith('/login'));
    await shot(first.page, 'session-1-replaced-desktop-en');

    // The second window carries on.
    await second.page.waitForFunction(() => window.__liar.stomp?.state === 'online');
    assert.equal(await second.tid('session-notice').count(), 0);
    await shot(second.page, 'session-2-new-login-phone-ko');

    // Logging in again here replaces the other one in turn, explained in Korean there.
    await login(first);
    await second.tid('session-notice').waitFor({ timeout: 15000 });
    assert.match(await second.tid('session-notice').textContent(), /다른 곳/);
    await shot(second.page, 'session-3-replaced-phone-ko');
  });
});

test('registration shows every field error, and a taken email', { timeout: 60000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const p = await player(browser, { name: uniq('hal'), viewport: PHONE });
  await onFailure('register', [p], async () => {
    await p.page.goto(`${BASE}/register`);
    await p.tid('register-email').fill('not-an-email');
    await p.tid('register-username').fill('x');
    await p.tid('register-password').fill('short');
    await p.tid('register-submit').click();
    await p.tid('register-email-error').filter({ hasText: /valid email/ }).waitFor();
    assert.match(await p.tid('register-username-error').textContent(), /at least 2/i);
    assert.match(await p.tid('register-password-error').textContent(), /at least 10/i);
    assert.equal(await p.tid('register-email').getAttribute('aria-invalid'), 'true');
    await shot(p.page, 'register-1-field-errors-phone');

    await register(p);
    await p.tid('logout').click();
    await p.page.goto(`${BASE}/register`);
    await p.tid('register-email').fill(p.email);
    await p.tid('register-username').fill(uniq('other'));
    await p.tid('register-password').fill('correct horse battery');
    await p.tid('register-submit').click();
    await p.tid('register-email-error').filter({ hasText: /already registered/ }).waitFor();
  });
});

test('too many failed logins are explained with the time to wait', { timeout: 60000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const p = await player(browser, { name: uniq('ida'), viewport: PHONE, locale: 'ko-KR' });
  await onFailure('ratelimit', [p], async () => {
    const email = `${uniq('nobody')}@example.com`;
    // Ten failures for one account (SPEC §1.3) …
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${BASE}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'wrong password!' }) });
      assert.equal(r.status, 401);
    }
    // … and the form explains the block.
    await p.page.goto(`${BASE}/login`);
    await p.tid('login-email').fill(email);
    await p.tid('login-password').fill('wrong password!');
    await p.tid('login-submit').click();
    const err = p.tid('form-error');
    await err.filter({ hasText: /초 후에 다시/ }).waitFor();
    assert.equal(await err.getAttribute('data-code'), 'RATE_LIMITED');
    assert.ok(await p.tid('login-submit').isDisabled(), 'the button waits out the block');
    await shot(p.page, 'login-rate-limited-phone-ko');
  });
});
