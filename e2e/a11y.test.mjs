// Accessibility: a keyboard-only path from sign-up to a new room with visible focus; every
// visible form control and button has an accessible name on each main screen; at phone size no
// screen (room, game, result) is wider than the viewport.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, createRoom, joinByCode, card, waitPhase, playHints, vote, shot, uniq, onFailure, BASE, PASSWORD, PHONE, DESKTOP } from './lib.mjs';

/** Presses Tab until the focused element matches `pred` (run in the page); returns the presses. */
async function tabTo(page, pred, arg, max = 60) {
  for (let n = 1; n <= max; n++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(pred, arg)) return n;
  }
  throw new Error(`Tab never reached ${String(pred)} ${arg ?? ''}`);
}
const byTestid = (id) => document.activeElement?.dataset?.testid === id;

/** The focused element shows a focus ring (a non-none outline or a box-shadow). */
async function assertFocusVisible(page, what) {
  const style = await page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    return { tag: el.tagName, testid: el.dataset?.testid ?? null, outline: `${cs.outlineStyle} ${cs.outlineWidth}`, outlineStyle: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth), boxShadow: cs.boxShadow };
  });
  const ring = (style.outlineStyle !== 'none' && style.outlineWidth > 0) || (style.boxShadow && style.boxShadow !== 'none');
  assert.ok(ring, `focus is visible on ${what}: ${JSON.stringify(style)}`);
}

/** Every visible input/select/textarea has an accessible name; every visible button has text or a label. */
async function assertNames(page, screen) {
  const problems = await page.evaluate(() => {
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const text = (s) => (s ?? '').replace(/\s+/g, ' ').trim();
    const labelledBy = (el) =>
      text(
        (el.getAttribute('aria-labelledby') ?? '')
          .split(/\s+/)
          .filter(Boolean)
          .map((id) => document.getElementById(id)?.textContent ?? '')
          .join(' '),
      );
    const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : ''}${el.type ? `(${el.type})` : ''}`;
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      const fromLabels = [...(el.labels ?? [])].map((l) => text(l.textContent)).join(' ');
      if (!fromLabels && !text(el.getAttribute('aria-label')) && !labelledBy(el)) out.push(`unnamed control ${describe(el)}`);
    }
    for (const el of document.querySelectorAll('button, [role=button]')) {
      if (!visible(el)) continue;
      if (!text(el.textContent) && !text(el.getAttribute('aria-label')) && !labelledBy(el)) out.push(`unnamed button ${describe(el)}`);
    }
    return { out, count: document.querySelectorAll('input, select, textarea, button').length };
  });
  assert.ok(problems.count > 0, `${screen}: some controls to check`);
  assert.deepEqual(problems.out, [], `${screen}: every control has an accessible name`);
}

/** Nothing is wider than the viewport (content may scroll only inside its own box). */
async function assertFits(page, screen) {
  const r = await page.evaluate(() => {
    const vw = window.innerWidth;
    const clipped = (el) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return true;
      }
      return false;
    };
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      if (!el.getClientRects().length) continue;
      const b = el.getBoundingClientRect();
      if ((b.right > vw + 0.5 || b.left < -0.5) && !clipped(el) && !el.matches('.skip-link, .sr-only')) {
        wide.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')}${el.dataset.testid ? `[${el.dataset.testid}]` : ''} ${Math.round(b.left)}..${Math.round(b.right)}`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide: wide.slice(0, 10) };
  });
  assert.ok(r.scrollWidth <= r.innerWidth, `${screen}: the page is ${r.scrollWidth}px wide in a ${r.innerWidth}px viewport: ${r.wide.join(', ')}`);
  assert.deepEqual(r.wide, [], `${screen}: no element sticks out of the viewport`);
}

/** `inner` lies within `outer` (both data-testid or CSS selectors), horizontally. */
async function assertInside(page, inner, outer) {
  const r = await page.evaluate(
    ([i, o]) => {
      const a = document.querySelector(i)?.getBoundingClientRect();
      const b = document.querySelector(i)?.closest(o)?.getBoundingClientRect();
      return a && b ? { a: [a.left, a.right], b: [b.left, b.right] } : null;
    },
    [inner, outer],
  );
  assert.ok(r, `${inner} inside ${outer} on screen`);
  assert.ok(r.a[0] >= r.b[0] - 0.5 && r.a[1] <= r.b[1] + 0.5, `${inner} ${JSON.stringify(r.a)} fits in ${outer} ${JSON.stringify(r.b)}`);
}

/** The room title is not under the sticky header. */
async function assertTitleClear(page) {
  const r = await page.evaluate(() => ({
    header: document.getElementById('header').getBoundingClientRect().bottom,
    title: document.querySelector('[data-testid=room-name]').getBoundingClientRect().top,
  }));
  assert.ok(r.title >= r.header - 0.5, `the room title (top ${r.title}) is below the header (bottom ${r.header})`);
}

test('keyboard only: sign up, create a room; focus is visible; every control is named', { timeout: 120000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const p = await player(browser, { name: uniq('kay'), viewport: DESKTOP });
  const { page } = p;
  await onFailure('a11y-keyboard', [p], async () => {
    // The login screen is named throughout, and its fields are reached with Tab.
    await page.goto(`${BASE}/login`);
    await p.tid('login-form').waitFor();
    await assertNames(page, 'login');
    await tabTo(page, byTestid, 'login-email');
    await assertFocusVisible(page, 'the login email');
    assert.equal(await tabTo(page, byTestid, 'login-password'), 1, 'the password follows the email');
    assert.equal(await tabTo(page, byTestid, 'login-submit'), 1, 'the button follows the password');
    await assertFocusVisible(page, 'the login button');

    // Sign up with the keyboard only.
    await tabTo(page, byTestid, 'to-register');
    await assertFocusVisible(page, 'the sign-up link');
    await page.keyboard.press('Enter');
    await p.tid('register-form').waitFor();
    await assertNames(page, 'register');
    await tabTo(page, byTestid, 'register-email');
    await assertFocusVisible(page, 'the email field');
    await page.keyboard.type(p.email);
    assert.equal(await tabTo(page, byTestid, 'register-username'), 1, 'the username follows the email');
    await assertFocusVisible(page, 'the username field');
    await page.keyboard.type(p.name);
    assert.equal(await tabTo(page, byTestid, 'register-password'), 1, 'the password follows the username');
    await page.keyboard.type(PASSWORD);
    await shot(page, 'a11y-1-register-keyboard-desktop');
    await page.keyboard.press('Enter');
    await p.tid('room-list').waitFor({ timeout: 20000 });
    await page.waitForFunction(() => window.__liar?.me?.userId);

    // The lobby: create a room with Tab, Space and Enter only.
    await assertNames(page, 'lobby');
    await tabTo(page, byTestid, 'create-name');
    await assertFocusVisible(page, 'the room name');
    await page.keyboard.type('Keys only');
    await tabTo(page, () => document.activeElement?.matches('[data-testid=create-room-form] summary'));
    await assertFocusVisible(page, 'the settings disclosure');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('[data-testid=create-room-form] details')?.open);
    await assertNames(page, 'lobby with the settings open');
    await tabTo(page, (id) => document.activeElement?.dataset?.testid?.startsWith(id), 'setting-');
    await assertFocusVisible(page, 'a setting');
    await tabTo(page, byTestid, 'create-submit');
    await assertFocusVisible(page, 'the create button');
    await shot(page, 'a11y-2-lobby-create-focus-desktop');
    await page.keyboard.press('Enter');
    await p.tid('room-code').waitFor({ timeout: 20000 });
    assert.equal((await p.tid('room-name').textContent()).trim(), 'Keys only');

    // The room (host, with the settings form).
    await page.locator('[data-testid=room-settings]').waitFor({ state: 'attached' });
    await assertNames(page, 'room');
    await tabTo(page, byTestid, 'leave-room');
    await assertFocusVisible(page, 'the leave button');
    await tabTo(page, byTestid, 'chat-input');
    await assertFocusVisible(page, 'the chat input');
    await page.keyboard.type('hello by keyboard');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=chat-log]', { hasText: 'hello by keyboard' }).waitFor();
    await shot(page, 'a11y-3-room-keyboard-desktop');
  });
});

test('phone size: the room, game and result screens fit the viewport and every control is named', { timeout: 240000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ps = await Promise.all([
    player(browser, { name: uniq('lou'), viewport: PHONE }),
    player(browser, { name: uniq('mia'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('ned'), viewport: PHONE }),
  ]);
  await onFailure('a11y-phone', ps, async () => {
    const [host, mia, ned] = ps;
    await Promise.all(ps.map(register));
    for (const p of ps) await assertFits(p.page, `lobby (${p.name})`);
    const room = await createRoom(host, `Quite a long room name ${uniq('')}`, { hintRounds: 1, hintSeconds: 30, discussionSeconds: 0, voteSeconds: 30, defenseSeconds: 0, guessSeconds: 20 });
    await joinByCode(mia, room.code);
    await joinByCode(ned, room.code);
    for (const p of ps) {
      await assertTitleClear(p.page);
      await assertFits(p.page, `room (${p.name})`);
      await assertNames(p.page, `room (${p.name})`);
    }
    await mia.tid('ready-toggle').click();
    await ned.tid('ready-toggle').click();
    await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 2);
    await host.tid('start').click();

    await Promise.all(ps.map(card));
    await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
    for (const p of ps) {
      await assertFits(p.page, `game, hints (${p.name})`);
      await assertInside(p.page, '[data-testid=card]', '[data-testid=game]');
      await assertNames(p.page, `game, hints (${p.name})`);
    }
    await playHints(ps);
    const cards = await Promise.all(ps.map(card));
    const liar = ps[cards.findIndex((c) => c.role === 'liar')];
    await Promise.all(ps.map((p) => waitPhase(p, 'vote', 20000)));
    for (const p of ps) {
      await assertFits(p.page, `game, vote (${p.name})`);
      await assertNames(p.page, `game, vote (${p.name})`);
    }
    for (const p of ps) await vote(p, p === liar ? ps.find((q) => q !== liar).userId : liar.userId);
    await Promise.all(ps.map((p) => waitPhase(p, 'guess', 20000)));
    await liar.tid('guess-input').waitFor();
    await assertNames(liar.page, 'game, guess (liar)');
    await assertFits(liar.page, 'game, guess (liar)');
    await liar.tid('guess-input').fill('a-very-long-guess-that-does-not-break-anywhere-at-all');
    await liar.tid('guess-submit').click();
    await Promise.all(ps.map((p) => p.tid('result').waitFor({ timeout: 20000 })));
    for (const p of ps) {
      await assertFits(p.page, `result (${p.name})`);
      await assertInside(p.page, '[data-testid=card]', '[data-testid=game]');
      await assertNames(p.page, `result (${p.name})`);
      // Brought back into view (as by the skip link or a focus move), the room title stops below
      // the sticky header, not under it.
      await p.page.evaluate(() => {
        window.scrollTo(0, document.documentElement.scrollHeight);
        document.querySelector('[data-testid=room-name]').focus();
      });
      await assertTitleClear(p.page);
      await p.page.evaluate(() => window.scrollTo(0, 0));
      // The players' table scrolls inside its own box at most.
      const wrap = await p.page.evaluate(() => {
        const w = document.querySelector('[data-testid=result]').querySelector('.table-wrap');
        const g = document.querySelector('[data-testid=game]').getBoundingClientRect();
        const b = w.getBoundingClientRect();
        return { right: b.right, gameRight: g.right };
      });
      assert.ok(wrap.right <= wrap.gameRight + 0.5, `the players' table box (right ${wrap.right}) stays in the game card (right ${wrap.gameRight})`);
    }
    await shot(liar.page, 'a11y-4-result-liar-phone');
    await shot(ps.find((p) => p !== liar).page, 'a11y-5-result-citizen-phone');
  });
});
