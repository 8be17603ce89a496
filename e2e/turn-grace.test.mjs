// Turn grace (SPEC §3 step 2): a speaker whose connection drops keeps his hint turn for
// `turnGraceSeconds` (10 s), never past the turn's deadline. In one four-player game, each player
// in his own browser (two Korean, two English):
// - the second speaker reloads his page during his turn: he is back in the same game with his
//   card, the turn is still his (his page asks for the hint, nobody sees a skip, the countdown is
//   the one everybody else sees), it is still his after the turn grace has run out, and his hint
//   goes through;
// - the third speaker closes his page during his turn and does not come back: he keeps the turn
//   for the turn grace (not skipped at once, not kept to the deadline), then everybody sees the
//   skip with its reason, in his language, also after a reload; the game goes on to its result.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, createRoom, joinByCode, card, waitPhase, vote, shot, uniq, onFailure, sleep, PHONE, DESKTOP } from './lib.mjs';

const HINT_SECONDS = 40;

/** What a page shows for a turn skipped because the speaker was away, by page language. */
const SKIPPED_AWAY = { en: 'skipped (disconnected)', ko: '건너뜀 (연결 끊김)' };
const YOUR_TURN = { en: 'Your turn! Give a hint.', ko: '내 차례! 힌트를 주세요.' };

/** The deadline of the running phase or turn, as this page has it (ms since the epoch). */
function deadlineOf(p) {
  return p.page.evaluate(() => {
    const d = window.__liar.room?.game?.deadline;
    return d == null ? null : new Date(d).getTime();
  });
}

/** The user ids whose turn this page lists as skipped. */
function skipsOn(p) {
  return p.page.locator('[data-testid=hint-skip]').evaluateAll((els) => els.map((e) => Number(e.dataset.userId)));
}

/** Whom this page shows as the current speaker. */
function speakerOn(p) {
  return p.page.evaluate(() => Number(document.querySelector('[data-testid=order-item].speaking')?.dataset.userId ?? NaN));
}

test('a speaker who reloads keeps his hint turn; one who closes his page is skipped after the turn grace', { timeout: 300000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ps = await Promise.all([
    player(browser, { name: uniq('host'), viewport: DESKTOP, locale: 'en-US' }),
    player(browser, { name: uniq('jiwoo'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('seo'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('tom'), viewport: PHONE, locale: 'en-US' }),
  ]);
  for (const p of ps) p.lang = (await p.page.evaluate(() => navigator.language)).slice(0, 2);
  await onFailure('turn-grace', ps, () => play(ps));
});

async function play(ps) {
  const [host, ...guests] = ps;
  await Promise.all(ps.map(register));
  const room = await createRoom(host, uniq('Grace '), { hintRounds: 1, hintSeconds: HINT_SECONDS, discussionSeconds: 0, voteSeconds: 60, defenseSeconds: 0, guessSeconds: 15 });
  for (const g of guests) await joinByCode(g, room.code);
  for (const g of guests) await g.tid('ready-toggle').click();
  await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 3, null, { timeout: 10000 });
  await host.tid('start').click();

  const cards = await Promise.all(ps.map(card));
  const liar = ps[cards.findIndex((c) => c.role === 'liar')];
  assert.ok(liar, JSON.stringify(cards));
  await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
  const grace = await host.page.evaluate(() => window.__liar.room.game.settings.turnGraceSeconds);
  assert.ok(grace > 0 && grace + 4 < HINT_SECONDS, `turnGraceSeconds ${grace} fits well inside a ${HINT_SECONDS} s turn`);
  const order = await host.page.locator('[data-testid=order-item]').evaluateAll((els) => els.map((e) => Number(e.dataset.userId)));
  const [first, x, y, last] = order.map((id) => ps.find((p) => p.userId === id));
  console.log(`# order: ${[first, x, y, last].map((p) => `${p.name}(${p.lang})`).join(', ')}; liar ${liar.name}; turn grace ${grace} s`);

  // The first speaker gives his hint as usual.
  await first.tid('hint-input').waitFor({ timeout: 15000 });
  await first.tid('hint-input').fill('first-clue');
  await first.tid('hint-submit').click();

  // ---- X reloads during his own turn. ----
  await x.tid('hint-input').waitFor({ timeout: 15000 });
  const others = ps.filter((p) => p !== x);
  await Promise.all(others.map((p) => p.page.waitForFunction((id) => Number(document.querySelector('[data-testid=order-item].speaking')?.dataset.userId) === id, x.userId, { timeout: 10000 })));
  const turnDeadline = await deadlineOf(first);
  assert.equal(await deadlineOf(x), turnDeadline, 'everybody has the same turn deadline');
  const url = x.page.url();
  const reloadedAt = Date.now();
  await x.page.reload();
  assert.equal(x.page.url(), url, 'the reload stays on the room');
  assert.deepEqual(await card(x), cards[ps.indexOf(x)], 'the same card comes back');
  // Back on his turn, or (were the turn grace broken) skipped: whichever the page shows first.
  await x.page.locator('[data-testid=my-turn], [data-testid=hint-skip]').first().waitFor({ timeout: 10000 });
  assert.deepEqual(await skipsOn(x), [], 'his turn was not skipped');
  await x.tid('hint-input').waitFor({ timeout: 10000 });
  await x.page.waitForFunction(() => window.__liar.stomp.state === 'online', null, { timeout: 10000 });
  console.log(`# ${x.name} was back on his turn ${Date.now() - reloadedAt} ms after the reload began`);
  assert.equal((await x.tid('my-turn').locator('[role=status]').textContent()).trim(), YOUR_TURN[x.lang]);
  // The others saw him go away and come back: the grace, not a surviving socket, kept his turn.
  for (const p of others) {
    await p.page.waitForFunction(
      (id) => ['player.disconnected', 'player.reconnected'].every((type) => window.__frames.some((f) => f.includes(`"type":"${type}"`) && f.includes(`"userId":${id}`))),
      x.userId,
      { timeout: 10000 },
    );
  }
  // The reloaded page shows the full state: the first hint, no skip, the same countdown.
  await x.page.locator('[data-testid=hint]', { hasText: 'first-clue' }).waitFor();
  assert.deepEqual(await skipsOn(x), []);
  assert.equal(await deadlineOf(x), turnDeadline, "the reloaded page counts down to the turn's own deadline");
  await shot(x.page, `turn-grace-1-reloaded-own-turn-${x.lang}`);

  // Still his turn after the turn grace has run out: being back ended the grace.
  await sleep(Math.max(0, reloadedAt + (grace + 2) * 1000 - Date.now()));
  assert.ok(Date.now() < turnDeadline - 3000, 'checked before the turn deadline');
  for (const p of ps) {
    assert.deepEqual(await skipsOn(p), [], `${p.name} sees no skipped turn`);
    assert.equal(await speakerOn(p), x.userId, `${p.name} still sees ${x.name} speaking`);
  }
  for (const p of others) {
    assert.match(await p.tid('their-turn').textContent(), new RegExp(x.name), `${p.name} waits for ${x.name}`);
    assert.equal(await p.tid('hint-input').count(), 0, `no hint box for ${p.name}`);
  }
  assert.ok(await x.tid('hint-input').isVisible(), 'his page still asks for his hint');
  await shot(first.page, `turn-grace-2-others-still-wait-${first.lang}`);
  await x.tid('hint-input').fill('after-reload');
  await x.tid('hint-submit').click();
  await Promise.all(ps.map((p) => p.page.locator('[data-testid=hint]', { hasText: 'after-reload' }).waitFor({ timeout: 10000 })));
  assert.equal(await x.page.locator(`[data-testid=hint][data-user-id="${x.userId}"]`).count(), 1);
  await x.tid('hint-input').waitFor({ state: 'detached', timeout: 5000 });

  // ---- Y closes his page during his own turn and does not come back. ----
  await y.tid('hint-input').waitFor({ timeout: 15000 });
  const stay = ps.filter((p) => p !== y);
  const yDeadline = await deadlineOf(first);
  const closedAt = Date.now();
  await y.page.close();
  // Seen as away at once, but it is still his turn.
  await Promise.all(stay.map((p) => p.page.locator(`[data-testid=order-item][data-user-id="${y.userId}"].away`).waitFor({ timeout: 5000 })));
  for (const p of stay) {
    assert.equal(await speakerOn(p), y.userId, `${p.name}: the away speaker keeps the turn`);
    assert.deepEqual(await skipsOn(p), [], `${p.name}: not skipped at once`);
  }
  await shot(last.page, `turn-grace-3-speaker-away-${last.lang}`);
  // The turn grace runs out: everybody sees the skip, with its reason in his language.
  await Promise.all(stay.map((p) => p.page.locator(`[data-testid=hint-skip][data-user-id="${y.userId}"]`).waitFor({ timeout: (grace + 8) * 1000 })));
  const skippedAfter = Date.now() - closedAt;
  console.log(`# ${y.name}'s turn was skipped ${skippedAfter} ms after his page closed (deadline was ${yDeadline - closedAt} ms away)`);
  assert.ok(skippedAfter >= (grace - 1) * 1000, `kept the turn for the turn grace (${skippedAfter} ms)`);
  assert.ok(Date.now() < yDeadline - 5000, `skipped at the end of the grace, not at the turn deadline (${skippedAfter} ms)`);
  for (const p of stay) {
    const skip = p.page.locator(`[data-testid=hint-skip][data-user-id="${y.userId}"]`);
    assert.equal(await skip.count(), 1);
    assert.equal((await skip.locator('.hint-text').textContent()).trim(), SKIPPED_AWAY[p.lang], `${p.name} sees why`);
    assert.match(await skip.textContent(), new RegExp(y.name));
  }
  await Promise.all(stay.map((p) => shot(p.page, `turn-grace-4-skipped-p${ps.indexOf(p) + 1}-${p.lang}`)));

  // The game goes on: the last speaker's turn.
  await last.tid('hint-input').waitFor({ timeout: 10000 });
  // A page reloaded now lists the skip where it happened, reason and all.
  const watcher = first;
  const listBefore = await watcher.tid('hints').innerText();
  await watcher.page.reload();
  await watcher.tid('hints').waitFor();
  await watcher.page.locator(`[data-testid=hint-skip][data-user-id="${y.userId}"]`).waitFor();
  assert.equal(await watcher.tid('hints').innerText(), listBefore, 'the same list after a reload, skip and reason included');
  await last.tid('hint-input').fill('last-clue');
  await last.tid('hint-submit').click();

  // Discussion is off: the vote, among the three who are here.
  await Promise.all(stay.map((p) => waitPhase(p, 'vote', 20000)));
  for (const p of stay) await vote(p, p === liar ? stay.find((q) => q !== liar).userId : liar.userId);
  if (stay.includes(liar)) {
    await Promise.all(stay.map((p) => waitPhase(p, 'guess', 20000)));
    await liar.tid('guess-input').fill('no-idea');
    await liar.tid('guess-submit').click();
  }
  await Promise.all(stay.map((p) => p.tid('result').waitFor({ timeout: 40000 })));
  for (const p of stay) assert.equal(await p.page.locator('[data-testid=result]').first().getAttribute('data-winner'), 'citizens');
  await shot(x.page, `turn-grace-5-result-${x.lang}`);
}
