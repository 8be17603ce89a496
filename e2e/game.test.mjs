// A whole game in four separate browser contexts, driven only through the screens: register,
// log in, create and join a room, ready, start, hints, discussion chat, vote, defense, the
// liar's guess, and the result in every context. It checks that the liar's screen never
// showed the word (classic mode) and the citizens' screens never showed who the liar was
// before the reveal, both on screen and in every WebSocket frame the pages received.
// Screenshots of each phase go to e2e/artifacts/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, player, register, login, logout, createRoom, joinByCode, joinFromList, card, waitPhase, playHints, vote,
  shot, recorded, shows, uniq, onFailure, PHONE, DESKTOP,
} from './lib.mjs';

test('four players play a whole classic game, each in his own browser', { timeout: 300000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());

  const ps = await Promise.all([
    player(browser, { name: uniq('ann'), viewport: DESKTOP, locale: 'ko-KR' }),
    player(browser, { name: uniq('bob'), viewport: PHONE, locale: 'en-US' }),
    player(browser, { name: uniq('cat'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('dan'), viewport: DESKTOP, locale: 'en-US' }),
  ]);
  const [host, g1, g2, g3] = ps;
  await onFailure('game', ps, () => play(ps, host, g1, g2, g3));
});

async function play(ps, host, g1, g2, g3) {
  // Register (the client logs in right away), log out, and log in through the form.
  await Promise.all(
    ps.map(async (p) => {
      await register(p);
      await logout(p);
      await login(p);
    }),
  );
  // The interface follows the browser's language.
  assert.equal(await host.page.evaluate(() => document.documentElement.lang), 'ko');
  assert.equal(await g1.page.evaluate(() => document.documentElement.lang), 'en');
  await shot(g1.page, '01-lobby-phone-en');

  // The host creates a room; everyone else is in the lobby and sees it appear live.
  const roomName = uniq('Friday ');
  const room = await createRoom(host, roomName, {
    hintRounds: 1,
    hintSeconds: 20,
    discussionSeconds: 5,
    voteSeconds: 30,
    defenseSeconds: 20,
    guessSeconds: 20,
  });
  await g2.page.locator(`[data-testid=room-item][data-room-id="${room.roomId}"]`).waitFor({ timeout: 10000 });
  await shot(g2.page, '02-lobby-live-list-phone-ko');

  await joinByCode(g1, room.code);
  await joinFromList(g2, room.roomId);
  await joinFromList(g3, room.roomId);
  // The lobby counts the members live.
  await host.page.locator('[data-testid=member]').nth(3).waitFor();
  for (const g of [g1, g2, g3]) await g.tid('ready-toggle').click();
  await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 3, null, { timeout: 10000 });
  assert.equal(await host.page.locator('[data-testid=member] [data-testid=host-badge]').count(), 1);
  await shot(host.page, '03-room-all-ready-desktop-ko');
  await shot(g1.page, '03-room-ready-phone-en');

  await host.tid('start').click();

  // Every player gets his card; exactly one is the liar, and he has no word.
  const cards = await Promise.all(ps.map(card));
  const liars = ps.filter((_, i) => cards[i].role === 'liar');
  assert.equal(liars.length, 1, JSON.stringify(cards));
  const liar = liars[0];
  const citizens = ps.filter((p) => p !== liar);
  const citizenCards = cards.filter((c) => c.role === 'citizen');
  const word = citizenCards[0].word;
  assert.ok(word, 'a citizen sees the word');
  assert.ok(citizenCards.every((c) => c.word === word && c.topic === citizenCards[0].topic));
  assert.equal(cards[ps.indexOf(liar)].word, null, "the liar's card has no word");
  console.log(`liar: ${liar.name}; word: ${word}`);
  await Promise.all(ps.map((p) => shot(p.page, `04-deal-${p === liar ? 'liar' : 'citizen'}-${p.name}`)));

  // Hints: each speaker gives one when his screen asks for it.
  await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
  const hints = await playHints(ps, {
    text: (p, n) => (p === liar ? `maybe${n}` : `clue${n}`),
    onHint: async (p, n) => {
      if (n === 2) {
        await shot(p.page, `05-hints-my-turn-${p.name}`);
        await shot((p === host ? g1 : host).page, `05-hints-waiting-${(p === host ? g1 : host).name}`);
      }
    },
  });
  assert.equal(hints, 4, 'one hint each');

  // Discussion with chat.
  await Promise.all(ps.map((p) => waitPhase(p, 'discussion', 20000)));
  await g1.tid('chat-input').fill('who said maybe?');
  await g1.tid('chat-send').click();
  await Promise.all(ps.map((p) => p.page.locator('[data-testid=chat-message]', { hasText: 'who said maybe?' }).waitFor()));
  await shot(g1.page, '06-discussion-chat-phone');
  await shot(host.page, '06-discussion-desktop');

  // The vote: the citizens name the liar, the liar names a citizen; "k of n" counts live.
  await Promise.all(ps.map((p) => waitPhase(p, 'vote', 20000)));
  const voters = [...citizens, liar];
  for (let k = 0; k < voters.length; k++) {
    const p = voters[k];
    await vote(p, p === liar ? citizens[0].userId : liar.userId);
    if (k < voters.length - 1) {
      await Promise.all(ps.map((q) => q.page.locator(`[data-testid=vote-progress][data-cast="${k + 1}"][data-total="4"]`).waitFor({ timeout: 10000 })));
    }
    if (k === 1) {
      await shot(p.page, `07-vote-2-of-4-${p.name}`);
      await shot(liar.page, `07-vote-liar-${liar.name}`);
    }
  }

  // Defense: the accused (the liar) speaks.
  await Promise.all(ps.map((p) => waitPhase(p, 'defense', 20000)));
  await liar.tid('defense-input').waitFor();
  await liar.tid('defense-input').fill('I really know the word!');
  await shot(liar.page, `08-defense-liar-${liar.name}`);
  await shot(citizens[0].page, `08-defense-citizen-${citizens[0].name}`);
  await liar.tid('defense-submit').click();

  // The reveal and the liar's guess (a wrong one).
  await Promise.all(ps.map((p) => waitPhase(p, 'guess', 20000)));
  await Promise.all(citizens.map((p) => p.tid('reveal').waitFor()));
  await liar.tid('guess-input').waitFor();
  await liar.tid('guess-input').fill('definitely-not-it');
  await shot(liar.page, `09-guess-liar-${liar.name}`);
  await shot(citizens[1].page, `09-guess-citizen-${citizens[1].name}`);
  await liar.tid('guess-submit').click();

  // The result, in every context.
  await Promise.all(ps.map((p) => p.tid('result').waitFor({ timeout: 20000 })));
  await Promise.all(ps.map((p) => shot(p.page, `10-result-${p === liar ? 'liar' : 'citizen'}-${p.name}`)));
  for (const p of ps) {
    const r = p.page.locator('[data-testid=result]').first();
    assert.equal(await r.getAttribute('data-winner'), 'citizens');
    assert.equal((await r.locator('[data-testid=result-word]').textContent()).trim(), word);
    assert.equal((await r.locator('[data-testid=result-liar]').textContent()).trim(), liar.name);
    assert.equal(await r.locator('[data-testid=result-votes] li').count(), 4, 'every vote is shown');
    // SPEC §3.1 with N = 4: a citizen who named the liar gets 25 + N, the liar 10.
    const exp = Number(await r.locator('[data-testid=my-exp]').getAttribute('data-exp'));
    assert.equal(exp, p === liar ? 10 : 29, p.name);
  }

  // Secrecy: what each page received and showed before the reveal.
  for (const p of ps) {
    const { frames, screens } = await recorded(p);
    assert.ok(frames.length > 20 && screens.length > 20, `the recorder saw ${p.name}'s page`);
    const ended = frames.findIndex((f) => f.includes('"type":"game.ended"'));
    assert.ok(ended > 0, `${p.name} received game.ended`);
    const before = frames.slice(0, ended);
    const shown = screens.filter((s) => !s.revealed);
    assert.ok(shown.some((s) => s.phase === 'hints'), 'screens of the hint phase were recorded');
    if (p === liar) {
      assert.ok(!before.some((f) => f.includes(JSON.stringify(word))), 'no frame gave the liar the word');
      for (const s of shown) assert.ok(!shows(s.text, word), `the liar's screen showed the word in phase ${s.phase}`);
    } else {
      const revealed = frames.findIndex((f) => f.includes('"type":"liar.revealed"'));
      assert.ok(revealed > 0);
      assert.ok(!frames.slice(0, revealed).some((f) => f.includes('"liarId"') || f.includes('"role":"liar"')), `no frame told ${p.name} who the liar was`);
      for (const s of shown) assert.equal(s.liarMarks, 0, `${p.name}'s screen marked the liar in phase ${s.phase}`);
      // (The check above is not vacuous: the citizen's own card shows the word all along.)
      for (const s of shown.filter((x) => x.phase === 'hints' || x.phase === 'vote')) {
        assert.ok(shows(s.text, word), `${p.name}'s own card shows the word in phase ${s.phase}`);
      }
    }
  }

  // A moment later the room is open again, with the last result still on screen.
  await host.page.waitForFunction(() => document.body.dataset.phase === 'lobby', null, { timeout: 20000 });
  await host.tid('start').waitFor();
  await shot(host.page, '11-room-after-game-desktop');

  // History: the game is there, filters and the detail page work.
  await host.tid('nav-history').click();
  await host.tid('history-item').first().waitFor();
  assert.equal(await host.tid('history-item').count(), 1);
  await host.tid('history-outcome').selectOption(host === liar ? 'win' : 'lose');
  await host.tid('history-empty').waitFor();
  await host.tid('history-outcome').selectOption('');
  await host.tid('history-search').fill('no such room name');
  await host.tid('history-empty').waitFor();
  await host.tid('history-search').fill(roomName.slice(0, 8));
  await host.tid('history-item').first().waitFor();
  await shot(host.page, '12-history-desktop-ko');
  await host.page.locator('[data-testid=history-item] a').first().click();
  await host.tid('game-detail').locator('[data-testid=result]').waitFor();
  assert.equal((await host.tid('game-detail').locator('[data-testid=result-word]').textContent()).trim(), word);
  await shot(host.page, '13-game-detail-desktop-ko');

  // Ranking, then a player hides his results and leaves it.
  await g1.tid('nav-leaderboard').click();
  await g1.page.locator(`[data-testid=board-row][data-user-id="${g2.userId}"]`).waitFor();
  await shot(g1.page, '14-leaderboard-phone-en');
  await g2.tid('nav-profile').click();
  await g2.tid('results-visible').waitFor();
  assert.equal(await g2.tid('results-visible').isChecked(), true);
  await g2.tid('results-visible').click();
  await g2.page.waitForFunction(() => window.__liar.me.resultsVisible === false);
  await shot(g2.page, '15-profile-hidden-phone-ko');
  await g1.tid('nav-lobby').click();
  await g1.tid('nav-leaderboard').click();
  await g1.tid('board-row').first().waitFor();
  assert.equal(await g1.page.locator(`[data-testid=board-row][data-user-id="${g2.userId}"]`).count(), 0);
  // Its public profile says so too.
  await g1.page.locator(`[data-testid=board-row][data-user-id="${g3.userId}"] a`).click();
  await g1.tid('public-profile').locator('[data-testid=profile-level]').waitFor();

  // The language switch re-renders everything in the other language.
  await g1.tid('lang-switch').selectOption('ko');
  await g1.page.locator('[data-testid=nav-lobby]', { hasText: '로비' }).waitFor();
  assert.equal(await g1.page.evaluate(() => document.documentElement.lang), 'ko');
}
