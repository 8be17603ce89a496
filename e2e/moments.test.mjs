// Issue 15, "every moment explained": a fool-mode game in which a citizen is voted out, played on
// two phones (Korean and English) and a desktop. It checks, each against what players saw
// before: the mode change is announced and shown in the header and the lobby list; the room
// name field stops at 30 characters; ready button and ready status read differently; the hint
// box counts to 100 and refuses more visibly; a timed-out turn is still listed after a reload;
// the chat comes right after the game card on a phone while players discuss, and survives a
// reload; the phone follows the game (card, vote); "1 vote" in English; the accused citizen's
// defense is shown on the result, which says why the liar won, names the fool his own word, has
// no "the liar guessed" line, and fits a 390×844 screen; the header's level follows the game;
// the history detail shows the liar's word too; sound cues play only where a test turned them on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, card, waitPhase, shot, uniq, onFailure, joinFromList, sleep, recorded, PHONE, DESKTOP } from './lib.mjs';

/** Is the element fully inside the viewport as the page is scrolled now? */
async function inView(p, selector) {
  return p.page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
  }, selector);
}

test('a fool-mode game where a citizen is voted out, explained at every moment', { timeout: 300000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const host = await player(browser, { name: uniq('hana'), viewport: DESKTOP, locale: 'en-US' });
  const min = await player(browser, { name: uniq('minji'), viewport: PHONE, locale: 'ko-KR' });
  const sam = await player(browser, { name: uniq('sam'), viewport: PHONE, locale: 'en-US' });
  const ps = [host, min, sam];
  await onFailure('moments', ps, () => play(ps));
});

async function play(ps) {
  const [host, min, sam] = ps;
  await Promise.all(ps.map(register));
  // Sound cues are off in tests unless turned on: Sam turns them on.
  await sam.page.evaluate(() => localStorage.setItem('liar.sound', 'on'));
  await sam.page.reload();
  await sam.tid('room-list').waitFor();
  assert.equal(await sam.tid('sound-toggle').getAttribute('aria-pressed'), 'true');
  assert.equal(await min.tid('sound-toggle').getAttribute('aria-pressed'), 'false', 'off in tests by default');

  // Defect 9: the form stops at the server's 30 characters.
  const name = `${uniq('Moments ')}${'x'.repeat(60)}`;
  await host.tid('create-name').fill(name);
  assert.equal((await host.tid('create-name').inputValue()).length, 30);
  await host.page.locator('[data-testid=create-room-form] details summary').click();
  for (const [k, v] of Object.entries({ hintRounds: 1, hintSeconds: 10, discussionSeconds: 6, voteSeconds: 30, defenseSeconds: 30, guessSeconds: 20 })) {
    await host.tid(`setting-${k}`).fill(String(v));
  }
  await host.tid('create-submit').click();
  await host.tid('room-code').waitFor();
  assert.equal((await host.tid('room-name').textContent()).length, 30);
  const roomId = Number(new URL(host.page.url()).pathname.split('/').pop());

  // Mode and topic in the lobby list and the room header.
  const item = min.page.locator(`[data-testid=room-item][data-room-id="${roomId}"] [data-testid=room-item-mode]`);
  await min.page.waitForFunction((id) => document.querySelector(`[data-testid=room-item][data-room-id="${id}"] [data-testid=room-item-mode][data-mode=classic]`), roomId, { timeout: 10000 });
  assert.match(await item.textContent(), /클래식 · 무작위/);
  await joinFromList(min, roomId);
  await joinFromList(sam, roomId);
  assert.equal(await sam.tid('room-mode').getAttribute('data-mode'), 'classic');

  // Ready button and ready status read differently (Korean too).
  const button = (await min.tid('ready-toggle').textContent()).trim();
  await min.tid('ready-toggle').click();
  await min.page.locator('[data-testid=member-ready]', { hasText: '준비 완료' }).first().waitFor();
  const pill = (await min.page.locator(`[data-testid=member][data-user-id="${min.userId}"] [data-testid=member-ready]`).textContent()).trim();
  assert.notEqual(button, pill, `button "${button}" vs status "${pill}"`);
  assert.match(await min.tid('my-ready-status').textContent(), /준비를 마쳤어요/);
  await sam.tid('ready-toggle').click();

  // The host switches to fool mode: announced to everyone, shown in the header.
  await host.page.locator('[data-testid=room-settings]').waitFor({ state: 'attached' });
  await host.page.locator('.settings-details summary').click();
  await host.tid('setting-mode').selectOption('fool');
  await sam.page.locator('[data-testid=toast]', { hasText: 'The host switched the mode to Fool.' }).waitFor({ timeout: 10000 });
  await min.page.locator('[data-testid=chat-note]', { hasText: '방장이 모드를 바보(으)로 바꿨어요.' }).waitFor();
  assert.equal(await min.tid('room-mode').getAttribute('data-mode'), 'fool');
  await shot(sam.page, 'moments-01-mode-announced-phone-en');

  await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 2, null, { timeout: 10000 });
  await host.tid('start').click();

  // The phone brings the card into view when the game starts.
  const cards = await Promise.all(ps.map(card));
  assert.ok(cards.every((c) => c.role === 'citizen' && c.word), 'in fool mode every card says citizen');
  await sleep(300);
  assert.ok(await inView(min, '[data-testid=card]'), 'the card is in view on the phone');
  await shot(min.page, 'moments-02-card-in-view-phone-ko');

  // Hints: the first speaker lets his turn time out; the hint box counts and refuses more.
  await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
  const order = await host.page.locator('[data-testid=order-item]').evaluateAll((els) => els.map((e) => Number(e.dataset.userId)));
  const byId = (id) => ps.find((p) => p.userId === id);
  const [first, second, third] = order.map(byId);
  await first.tid('hint-input').waitFor();
  await first.tid('hint-input').pressSequentially('가'.repeat(101), { delay: 0 });
  assert.equal([...(await first.tid('hint-input').inputValue())].length, 100, 'no more than 100 characters');
  assert.equal(await first.tid('hint-count').textContent(), '100/100');
  assert.match(await first.tid('hint-count').getAttribute('class'), /full/);
  assert.ok((await first.tid('hint-error').textContent()).includes('100'), 'the limit is said');
  await shot(first.page, 'moments-03-hint-limit');
  await first.tid('hint-input').fill('');
  // ... and lets it run out. Defect 3 (second half): a page reloaded after it still lists the
  // skipped turn, where it happened (the reloaded player is not the one speaking).
  await second.tid('hint-input').waitFor({ timeout: 20000 });
  assert.equal(await third.page.locator('[data-testid=hint-skip]').count(), 1);
  const listBefore = await third.tid('hints').innerText();
  await third.page.reload();
  await third.tid('hints').waitFor();
  assert.equal(await third.tid('hints').innerText(), listBefore, 'the same list, skip included');
  await shot(third.page, 'moments-03b-skip-after-reload');
  await second.tid('hint-input').fill('shiny');
  await second.tid('hint-submit').click();
  await third.tid('hint-input').waitFor({ timeout: 15000 });
  await third.tid('hint-input').fill('round');
  await third.tid('hint-submit').click();

  // Discussion: on a phone the chat comes right after the game card; it survives a reload.
  await Promise.all(ps.map((p) => waitPhase(p, 'discussion', 20000)));
  const chatFirst = await min.page.evaluate(() => {
    const chat = document.querySelector('.chat').getBoundingClientRect();
    const hints = document.querySelector('[data-testid=hints]').getBoundingClientRect();
    return chat.top < hints.top;
  });
  assert.ok(chatFirst, 'the chat comes before the hints on a phone during discussion');
  await sleep(300);
  assert.ok(await inView(min, '#chat-input'), 'the chat box is in view');
  await min.tid('chat-input').fill('누가 라이어지?');
  await min.tid('chat-send').click();
  await sam.page.locator('[data-testid=chat-message]', { hasText: '누가 라이어지?' }).waitFor();
  await shot(min.page, 'moments-04-discussion-chat-phone-ko');
  // Sam's page played the "your turn" cue (checked before his reload below clears the record).
  const turnCues = await sam.page.evaluate(() => window.__liarCues ?? []);
  assert.ok(turnCues.includes('turn'), `turn cue: ${turnCues}`);
  // Defect 5: a reloaded page shows the chat history, when the server's snapshot carries it
  // (room layer: room.snapshot.room.chat).
  await sam.page.reload();
  await sam.tid('chat-log').waitFor();
  await sam.page.waitForFunction(() => window.__frames.some((f) => f.includes('"room.snapshot"')), null, { timeout: 10000 });
  const snapshot = (await recorded(sam)).frames.find((f) => f.includes('"room.snapshot"'));
  if (snapshot.includes('"chat":[')) {
    await sam.page.locator('[data-testid=chat-message]', { hasText: '누가 라이어지?' }).waitFor({ timeout: 5000 });
  } else {
    console.log('# the server sends no chat history in room.snapshot yet: chat-after-reload not checked');
  }

  // The vote: everybody names a citizen (the fool is the one whose word differs); the phone
  // shows the options.
  await Promise.all(ps.map((p) => waitPhase(p, 'vote', 20000)));
  assert.ok(!(await recorded(host)).frames.some((f) => f.includes('"liarId"')), 'no frame named the liar before the result');
  await sleep(300);
  assert.ok(await inView(sam, '[data-testid=vote-options]'), 'the vote is in view on the phone');
  const fool = ps.find((p, i) => cards.filter((c) => c.word === cards[i].word).length === 1);
  assert.ok(fool, 'one card has another word');
  const citizenWord = cards[ps.indexOf(ps.find((p) => p !== fool))].word;
  const foolWord = cards[ps.indexOf(fool)].word;
  const accused = ps.find((p) => p !== fool);
  for (const p of ps) {
    const target = p === accused ? fool : accused;
    await p.page.locator(`[data-testid=vote-option][data-user-id="${target.userId}"]`).click();
  }
  await Promise.all(ps.map((p) => p.page.waitForFunction(() => ['defense', 'guess', 'result'].includes(document.body.dataset.phase), null, { timeout: 20000 })));
  const tally = await sam.tid('vote-result').innerText();
  assert.match(tally, /\b2 votes\b/);
  assert.match(tally, /\b1 vote\b/);
  assert.doesNotMatch(tally, /\b1 votes\b/);
  assert.equal(await host.page.evaluate(() => document.body.dataset.phase), 'defense');
  await sleep(300);
  assert.ok(await inView(accused, '[data-testid=defense-input]') || accused === host, 'the defense box is in view on the phone');
  // Defect 1: a citizen's defense ends the game at once; it must not be lost.
  await accused.tid('defense-input').fill('저는 시민이에요, 반짝인다고 했잖아요');
  await accused.tid('defense-submit').click();
  await Promise.all(ps.map((p) => p.tid('result').waitFor({ timeout: 20000 })));
  await sleep(400);
  await Promise.all(ps.map((p) => shot(p.page, `moments-05-result-${p.name}`)));
  const result = (p) => p.page.locator('[data-testid=result]').first();
  assert.equal(Number(await result(host).locator('[data-testid=result-liar]').getAttribute('data-user-id')), fool.userId);
  for (const p of ps) {
    const r = result(p);
    // Why the side won, in words; both words; the defense; no guess line without a guess phase.
    assert.equal(await r.getAttribute('data-winner'), 'liar');
    assert.equal(await r.getAttribute('data-reason'), 'wrong_accused');
    const why = await r.locator('[data-testid=result-reason]').textContent();
    assert.ok(why.includes(accused.name), `the reason names the accused: ${why}`);
    assert.equal((await r.locator('[data-testid=result-word]').textContent()).trim(), citizenWord);
    assert.equal((await r.locator('[data-testid=result-liar-word]').textContent()).trim(), foolWord);
    assert.ok((await r.locator('[data-testid=result-defense]').textContent()).includes('반짝인다고 했잖아요'), `${p.name} sees the defense on the result`);
    assert.equal(await r.locator('[data-testid=result-guess]').count(), 0, 'no "the liar guessed" line');
    assert.equal(await r.locator('[data-testid=result-you-liar]').count(), p === fool ? 1 : 0, 'only the fool is told he was the liar');
  }
  assert.ok((await result(fool).locator('[data-testid=result-you-liar]').textContent()).includes(foolWord), 'the fool is told his own word');
  // On a 390×844 phone the answers are on screen without scrolling.
  for (const p of [min, sam]) {
    for (const id of ['result-winner', 'result-reason', 'result-liar', 'result-word', 'my-exp']) {
      assert.ok(await inView(p, `[data-testid=result] [data-testid=${id}]`), `${p.name}: ${id} in view`);
    }
  }
  // The reopening countdown, when the server says when (room layer: game.ended.reopensAt).
  const ended = (await recorded(sam)).frames.find((f) => f.includes('"type":"game.ended"'));
  if (ended.includes('"reopensAt"')) {
    assert.ok(await inView(sam, '[data-testid=reopens]'), 'the countdown to the reopening is in view');
  }

  // Defect 4: the header's level badge follows the game at once.
  const mine = Number(await result(host).locator('[data-testid=my-exp]').getAttribute('data-exp'));
  await host.page.waitForFunction((exp) => Number(document.querySelector('[data-testid=level-chip]')?.dataset.exp) === exp, mine, { timeout: 5000 });

  // Sound cues played only for the player who turned them on.
  const cues = await sam.page.evaluate(() => window.__liarCues ?? []);
  assert.ok(cues.includes('vote'), `vote cue: ${cues}`);
  assert.ok(cues.includes('win') || cues.includes('lose'), `result cue: ${cues}`);
  if (sam === accused) assert.ok(cues.includes('accused'), `accused cue: ${cues}`);
  assert.deepEqual(await min.page.evaluate(() => window.__liarCues ?? []), [], 'no sound where nobody turned it on');

  // Defect 6: the history detail tells the fool's word too.
  await waitPhase(fool, 'lobby', 30000);
  await fool.page.goto(`${new URL(fool.page.url()).origin}/history`);
  await fool.page.locator('[data-testid=history-item] a').first().click();
  const detail = fool.tid('game-detail');
  await detail.locator('[data-testid=result]').waitFor();
  assert.equal((await detail.locator('[data-testid=result-liar-word]').textContent()).trim(), foolWord);
  assert.equal(await detail.locator('[data-testid=result-you-liar]').count(), 1);
  await shot(fool.page, 'moments-06-history-detail-fool');
}
