// Shared helpers of the e2e tests: the browser, players, screenshots, and the secrecy
// recorder (every WebSocket frame a page received and every screen state it showed).

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE = (process.env.LIAR_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
export const PASSWORD = 'correct horse battery';
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 860 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export function uniq(prefix) {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`;
}

/** Screenshot into e2e/artifacts/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * Installs the recorder in a page (before any script of the page runs):
 * - window.__frames: every WebSocket message received, with the time;
 * - window.__screens: the visible text of the page after every change, with the phase shown
 *   and whether a reveal (liar.revealed) or a result was on screen.
 */
const RECORDER = () => {
  window.__frames = [];
  window.__screens = [];
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => window.__frames.push(typeof e.data === 'string' ? e.data : '[binary]'));
    }
  };
  let scheduled = false;
  const record = () => {
    scheduled = false;
    if (!document.body) return;
    window.__screens.push({
      phase: document.body.dataset.phase ?? null,
      revealed: Boolean(document.querySelector('[data-testid=reveal], [data-testid=result]')),
      liarMarks: document.querySelectorAll('[data-testid=liar-badge], [data-testid=result-liar], [data-testid=reveal]').length,
      text: document.body.innerText,
    });
  };
  new MutationObserver(() => {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(record);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-phase'] });
};

/** A browser context + page for one player. */
export async function player(browser, { name, viewport = PHONE, locale = 'en-US' } = {}) {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.addInitScript(RECORDER);
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) console.error(`[${name}] console:`, m.text());
  });
  const p = {
    name,
    email: `${name}@example.com`,
    context,
    page,
    tid: (id) => page.locator(`[data-testid="${id}"]`),
  };
  return p;
}

/** On failure, a screenshot of every page (e2e/artifacts/fail-<test>-<player>.png). */
export async function onFailure(label, ps, fn) {
  try {
    return await fn();
  } catch (e) {
    await Promise.all(ps.map((p) => shot(p.page, `fail-${label}-${p.name}`).catch(() => {})));
    throw e;
  }
}

/** Registers through the form (the client logs in right after). */
export async function register(p) {
  const { page } = p;
  await page.goto(`${BASE}/register`);
  await p.tid('register-email').fill(p.email);
  await p.tid('register-username').fill(p.name);
  await p.tid('register-password').fill(PASSWORD);
  await p.tid('register-submit').click();
  await p.tid('room-list').waitFor();
  p.userId = await page.evaluate(() => window.__liar.me.userId);
}

/** Logs in through the form. */
export async function login(p) {
  const { page } = p;
  if (!page.url().endsWith('/login')) await page.goto(`${BASE}/login`);
  await p.tid('login-email').fill(p.email);
  await p.tid('login-password').fill(PASSWORD);
  await p.tid('login-submit').click();
  await p.tid('room-list').waitFor();
  p.userId = await page.evaluate(() => window.__liar.me.userId);
}

export async function logout(p) {
  await p.tid('logout').click();
  await p.tid('login-form').waitFor();
}

/** The host creates a room with the given settings; returns {roomId, code}. */
export async function createRoom(p, name, settings = {}, password) {
  const { page } = p;
  await p.tid('create-name').fill(name);
  if (password) await p.tid('create-password').fill(password);
  await page.locator('[data-testid=create-room-form] details summary').click();
  for (const [k, v] of Object.entries(settings)) {
    const control = p.tid(`setting-${k}`);
    if ((await control.evaluate((el) => el.tagName)) === 'SELECT') await control.selectOption(String(v));
    else await control.fill(String(v));
  }
  await p.tid('create-submit').click();
  await p.tid('room-code').waitFor();
  const code = (await p.tid('room-code').textContent()).trim();
  const roomId = Number(new URL(page.url()).pathname.split('/').pop());
  return { roomId, code };
}

export async function phaseOf(p) {
  return p.page.evaluate(() => document.body.dataset.phase ?? null);
}

export async function waitPhase(p, phase, timeout = 30000) {
  await p.page.waitForFunction((ph) => document.body.dataset.phase === ph, phase, { timeout });
}

/** The card as shown: {role, topic, word}. */
export async function card(p) {
  await p.page.waitForSelector('[data-testid=card]:not([data-role=none])', { timeout: 20000 });
  return p.page.evaluate(() => {
    const c = document.querySelector('[data-testid=card]');
    return {
      role: c.dataset.role,
      topic: c.querySelector('[data-testid=card-topic]')?.textContent ?? null,
      word: c.querySelector('[data-testid=card-word]')?.textContent ?? null,
    };
  });
}

export async function recorded(p) {
  return p.page.evaluate(() => ({ frames: window.__frames, screens: window.__screens }));
}

/** Whole words of a text (so "사자" is not found inside an unrelated longer word). */
export function tokens(text) {
  return new Set(String(text).split(/[\s.,:;!?()[\]{}"“”'‘’·→/|]+/u).filter(Boolean));
}

/** Whether a screen's text shows `word` as a word of its own. */
export function shows(text, word) {
  return /\s/.test(word) ? String(text).includes(word) : tokens(text).has(word);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A guest joins with the room code form in the lobby. */
export async function joinByCode(p, code, password) {
  await p.tid('join-code').fill(code);
  if (password) {
    await p.tid('join-code-submit').click();
    await p.tid('join-password').waitFor();
    await p.tid('join-password').fill(password);
  }
  await p.tid('join-code-submit').click();
  await p.tid('room-code').waitFor();
}

/** A guest joins from the live room list. */
export async function joinFromList(p, roomId) {
  await p.page.locator(`[data-testid=room-item][data-room-id="${roomId}"] [data-testid=room-join]`).click();
  await p.tid('room-code').waitFor();
}

/**
 * Plays the hint phase: whoever's screen shows the hint box gives a hint, until no screen is
 * in the deal or hint phase any more. `onHint(p, n)` runs before each hint is sent.
 */
export async function playHints(ps, { text = (p, n) => `clue${n}`, onHint, timeout = 180000 } = {}) {
  const until = Date.now() + timeout;
  let n = 0;
  for (;;) {
    if (Date.now() > until) throw new Error('the hint phase did not end');
    const phases = await Promise.all(ps.map(phaseOf));
    if (phases.every((ph) => ph !== 'hints' && ph !== 'deal')) return n;
    for (const p of ps) {
      const input = p.tid('hint-input');
      if (await input.isVisible().catch(() => false)) {
        await input.fill(text(p, n));
        if (onHint) await onHint(p, n);
        await p.tid('hint-submit').click();
        await input.waitFor({ state: 'hidden', timeout: 15000 });
        n++;
      }
    }
    await sleep(150);
  }
}

/** Votes through the screen: clicks the candidate with that user id. */
export async function vote(p, targetId) {
  await p.page.locator(`[data-testid=vote-option][data-user-id="${targetId}"]`).click();
  // The last ballot closes the vote at once: then the options are gone.
  await p.page.waitForFunction(
    (id) => document.querySelector(`[data-testid=vote-option].chosen[data-user-id="${id}"]`) || document.body.dataset.phase !== 'vote',
    targetId,
    { timeout: 10000 },
  );
}
