// A whole four-player game on phones: every browser context has a 390×844 viewport (two Korean,
// two English), and every player has a name of the longest length allowed (20). Register, create and join a room, ready, start, card, hints (one of them a long
// word without spaces), discussion chat, vote, defense, the liar's guess, result. At every phase,
// on every phone: no horizontal scroll, and the page was never reloaded (a marker set in the
// lobby survives, no `load` event). On the result, without the test scrolling: who the liar was,
// what the word was, why the side won (`reason` in words) and the experience gained are all on
// screen, inside the 844 px, not covered by anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch, player, register, createRoom, joinByCode, joinFromList, card, waitPhase, playHints, vote, shot, uniq, onFailure, sleep, ARTIFACTS, PHONE } from './lib.mjs';

const GUESS = 'definitely-not-it';
const REASON_MISSED = { en: `The liar was caught and guessed wrong: “${GUESS}”.`, ko: `라이어가 들켰고 제시어를 틀렸어요: “${GUESS}”` };
const EXP_TEXT = { en: (n) => `+${n} exp`, ko: (n) => `+${n} 경험치` };
/** A hint a player might really type: one long word, no spaces (the hint box takes 100). */
const LONG_HINT = 'Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen';

/** No horizontal scroll on this page, and it is still the page loaded before the game. */
async function check(p, label) {
  const m = await p.page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    marker: window.__phoneGameMarker ?? null,
    // On failure: what sticks out on the right.
    wide: [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .slice(-3)
      .map((el) => {
        const chain = [];
        for (let e = el; e && e !== document.body; e = e.parentElement) chain.push(`${e.tagName.toLowerCase()}${e.dataset.testid ? `[${e.dataset.testid}]` : ''}${e.classList.length ? `.${[...e.classList].join('.')}` : ''}(${Math.round(e.getBoundingClientRect().width)})`);
        return `${chain.join(' < ')} right=${Math.round(el.getBoundingClientRect().right)} "${el.textContent.trim().slice(0, 30)}"`;
      }),
  }));
  assert.ok(m.scrollWidth <= m.clientWidth, `${p.name} (${label}): horizontal scroll, scrollWidth ${m.scrollWidth} > clientWidth ${m.clientWidth}: ${m.wide.join('; ')}`);
  assert.equal(m.marker, p.marker, `${p.name} (${label}): the page was reloaded`);
  assert.equal(p.loads, 0, `${p.name} (${label}): ${p.loads} page load(s) since the lobby`);
}

const checkAll = (ps, label) => Promise.all(ps.map((p) => check(p, label)));

/** Where each result line is on the screen as it is now (no scrolling here). */
function resultLayout(p) {
  return p.page.evaluate(() => {
    const out = { innerHeight: window.innerHeight, scrollY: window.scrollY, items: {} };
    for (const id of ['result-winner', 'result-reason', 'result-liar', 'result-word', 'my-exp']) {
      const el = document.querySelector(`[data-testid=result] [data-testid=${id}]`);
      if (!el) {
        out.items[id] = null;
        continue;
      }
      const r = el.getBoundingClientRect();
      // What is painted at the middle of its first line: the element itself, or what covers it.
      const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 20), r.top + Math.min(r.height / 2, 8));
      out.items[id] = { top: r.top, bottom: r.bottom, height: r.height, text: el.textContent.trim(), visible: Boolean(hit && (el === hit || el.contains(hit))), covered: hit && !(el === hit || el.contains(hit)) ? hit.outerHTML.slice(0, 80) : null };
    }
    // The labels "The liar was" / "The word was" sit in the same list.
    const facts = document.querySelector('[data-testid=result] .result-facts');
    out.facts = facts ? { top: facts.getBoundingClientRect().top, text: facts.innerText } : null;
    return out;
  });
}

test('four players play a whole game on phones: no sideways scroll, no reload, the result fits the screen', { timeout: 300000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  // uniq() adds 6 characters: 20 in all, the longest name allowed (SPEC §1).
  const ps = await Promise.all([
    player(browser, { name: uniq('mina_from_seou'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('elizabeth_long'), viewport: PHONE, locale: 'en-US' }),
    player(browser, { name: uniq('joonwoo_park_k'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('raymond_wallac'), viewport: PHONE, locale: 'en-US' }),
  ]);
  assert.deepEqual(ps.map((p) => [...p.name].length), [20, 20, 20, 20]);
  await onFailure('phone-game', ps, () => play(ps));
});

async function play(ps) {
  const [host, g1, g2, g3] = ps;
  await Promise.all(ps.map(register));
  // From the lobby on, every page must stay the page it is now.
  for (const p of ps) {
    p.lang = (await p.page.evaluate(() => document.documentElement.lang)).slice(0, 2);
    p.marker = uniq('m');
    await p.page.evaluate((m) => (window.__phoneGameMarker = m), p.marker);
    p.loads = 0;
    p.page.on('load', () => p.loads++);
  }
  assert.deepEqual(ps.map((p) => p.lang), ['ko', 'en', 'ko', 'en']);
  assert.deepEqual(await host.page.evaluate(() => [window.innerWidth, window.innerHeight]), [390, 844]);
  await checkAll(ps, 'lobby');
  await shot(host.page, 'phone-game-01-lobby-ko');

  const room = await createRoom(host, uniq('Phones '), { hintRounds: 1, hintSeconds: 30, discussionSeconds: 5, voteSeconds: 30, defenseSeconds: 20, guessSeconds: 20 });
  await g1.page.locator(`[data-testid=room-item][data-room-id="${room.roomId}"]`).waitFor({ timeout: 10000 });
  await joinByCode(g1, room.code);
  await joinFromList(g2, room.roomId);
  await joinByCode(g3, room.code);
  await host.page.locator('[data-testid=member]').nth(3).waitFor();
  await checkAll(ps, 'room');
  await shot(g1.page, 'phone-game-02-room-en');
  for (const g of [g1, g2, g3]) await g.tid('ready-toggle').click();
  await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 3, null, { timeout: 10000 });
  await checkAll(ps, 'ready');
  await shot(host.page, 'phone-game-03-all-ready-ko');
  await host.tid('start').click();

  // The cards: one liar without the word.
  const cards = await Promise.all(ps.map(card));
  await checkAll(ps, 'card');
  const liars = ps.filter((_, i) => cards[i].role === 'liar');
  assert.equal(liars.length, 1, JSON.stringify(cards));
  const liar = liars[0];
  const citizens = ps.filter((p) => p !== liar);
  const word = cards.find((c) => c.role === 'citizen').word;
  assert.ok(word);
  console.log(`# liar: ${liar.name} (${liar.lang}); word: ${word}`);
  await Promise.all(ps.map((p) => shot(p.page, `phone-game-04-card-p${ps.indexOf(p) + 1}-${p === liar ? 'liar' : 'citizen'}-${p.lang}`)));

  // Hints; the second one is a long word without spaces.
  await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
  await checkAll(ps, 'hints');
  const hints = await playHints(ps, {
    text: (p, n) => (n === 1 ? LONG_HINT : `${p === liar ? 'maybe' : 'clue'}${n}`),
    onHint: async (p, n) => {
      await checkAll(ps, `hint ${n}`);
      if (n === 0) await shot(p.page, `phone-game-05-hints-my-turn-${p.lang}`);
    },
  });
  assert.equal(hints, 4, 'one hint each');

  // Discussion, with a long chat message.
  await Promise.all(ps.map((p) => waitPhase(p, 'discussion', 20000)));
  await Promise.all(ps.map((p) => p.page.locator('[data-testid=hint]', { hasText: LONG_HINT }).waitFor()));
  await checkAll(ps, 'discussion');
  await shot(g2.page, 'phone-game-06-hints-long-word-ko');
  const said = `누가 ${LONG_HINT} 라고 했죠?`;
  await g2.tid('chat-input').fill(said);
  await g2.tid('chat-send').click();
  await Promise.all(ps.map((p) => p.page.locator('[data-testid=chat-message]', { hasText: said }).waitFor()));
  await checkAll(ps, 'chat');
  await shot(g3.page, 'phone-game-07-discussion-chat-en');

  // The vote: the citizens name the liar, the liar a citizen.
  await Promise.all(ps.map((p) => waitPhase(p, 'vote', 20000)));
  await checkAll(ps, 'vote');
  for (const [k, p] of [...citizens, liar].entries()) {
    await vote(p, p === liar ? citizens[0].userId : liar.userId);
    if (k === 0) {
      await checkAll(ps, 'vote 1 of 4');
      await shot(p.page, `phone-game-08-vote-${p.lang}`);
    }
  }

  // Defense: the accused liar speaks.
  await Promise.all(ps.map((p) => waitPhase(p, 'defense', 20000)));
  await liar.tid('defense-input').waitFor();
  await checkAll(ps, 'defense');
  await liar.tid('defense-input').fill('I really know the word, trust me!');
  await shot(liar.page, `phone-game-09-defense-liar-${liar.lang}`);
  await liar.tid('defense-submit').click();

  // The reveal and a wrong guess.
  await Promise.all(ps.map((p) => waitPhase(p, 'guess', 20000)));
  await liar.tid('guess-input').waitFor();
  await checkAll(ps, 'guess');
  await shot(citizens[0].page, `phone-game-10-guess-citizen-${citizens[0].lang}`);
  await liar.tid('guess-input').fill(GUESS);
  await liar.tid('guess-submit').click();

  // The result: the answers fit the phone's screen as the page shows it (nothing scrolled here).
  await Promise.all(ps.map((p) => p.tid('result').waitFor({ timeout: 20000 })));
  await sleep(500);
  for (const p of ps) {
    const r = p.page.locator('[data-testid=result]').first();
    assert.equal(await r.getAttribute('data-winner'), 'citizens');
    assert.equal(await r.getAttribute('data-reason'), 'liar_missed');
    const layout = await resultLayout(p);
    const where = JSON.stringify(layout);
    assert.equal(layout.innerHeight, 844);
    for (const [id, item] of Object.entries(layout.items)) {
      assert.ok(item, `${p.name}: ${id} is shown`);
      assert.ok(item.height > 0 && item.top >= 0 && item.bottom <= layout.innerHeight, `${p.name}: ${id} within the 844 px screen: ${where}`);
      assert.ok(item.visible, `${p.name}: ${id} is covered by ${item.covered}`);
    }
    assert.ok(layout.facts && layout.facts.top >= 0, `${p.name}: the labels are on screen`);
    const { items } = layout;
    assert.equal(items['result-liar'].text, liar.name, `${p.name}: who the liar was`);
    assert.equal(items['result-word'].text, word, `${p.name}: what the word was`);
    assert.equal(items['result-reason'].text, REASON_MISSED[p.lang], `${p.name}: why the citizens won`);
    const exp = p === liar ? 10 : 29; // SPEC §3.1, N = 4: the liar 10, a citizen who named him 25 + N.
    assert.equal(Number(await r.locator('[data-testid=my-exp]').getAttribute('data-exp')), exp);
    assert.ok(items['my-exp'].text.includes(EXP_TEXT[p.lang](exp)), `${p.name}: the experience gained: ${items['my-exp'].text}`);
    assert.ok(layout.facts.text.includes(p.lang === 'ko' ? '라이어' : 'The liar was') && layout.facts.text.includes(p.lang === 'ko' ? '제시어' : 'The word was'));
  }
  await checkAll(ps, 'result');
  // What the phone shows, as it is (viewport only), then the whole page.
  for (const p of ps) {
    await p.page.screenshot({ path: join(ARTIFACTS, `phone-game-11-result-screen-p${ps.indexOf(p) + 1}-${p === liar ? 'liar' : 'citizen'}-${p.lang}.png`) });
  }
  await shot(host.page, 'phone-game-12-result-full-ko');

  // The room reopens on the same pages.
  await Promise.all(ps.map((p) => waitPhase(p, 'lobby', 30000)));
  await checkAll(ps, 'reopened');
}
