// A page reload mid-game, and a dropped connection, return the player to the same seat with
// his card; he then plays on (hints, vote) and the game reaches its result.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, createRoom, joinByCode, card, waitPhase, playHints, vote, shot, uniq, onFailure, PHONE, DESKTOP } from './lib.mjs';

test('a reload or a dropped connection mid-game returns the player to his seat with his card', { timeout: 240000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ps = await Promise.all([
    player(browser, { name: uniq('host'), viewport: DESKTOP }),
    player(browser, { name: uniq('eve'), viewport: PHONE, locale: 'ko-KR' }),
    player(browser, { name: uniq('fay'), viewport: PHONE }),
  ]);
  await onFailure('reload', ps, async () => {
    const [host, eve, fay] = ps;
    await Promise.all(ps.map(register));
    const room = await createRoom(host, uniq('Reload '), { hintRounds: 2, hintSeconds: 30, discussionSeconds: 0, voteSeconds: 30, defenseSeconds: 0, guessSeconds: 20 });
    await joinByCode(eve, room.code);
    await joinByCode(fay, room.code);
    await eve.tid('ready-toggle').click();
    await fay.tid('ready-toggle').click();
    await host.page.waitForFunction(() => document.querySelectorAll('[data-testid=member][data-ready=true]').length === 2);
    await host.tid('start').click();

    const before = await card(eve);
    await Promise.all(ps.map((p) => waitPhase(p, 'hints', 20000)));
    const orderBefore = await eve.page.locator('[data-testid=order-item]').evaluateAll((els) => els.map((e) => Number(e.dataset.userId)));
    assert.ok(orderBefore.includes(eve.userId));

    // Reload mid-game.
    const url = eve.page.url();
    await eve.page.reload();
    assert.equal(eve.page.url(), url, 'the reload stays on the room');
    const after = await card(eve);
    assert.deepEqual(after, before, 'the same card comes back');
    await waitPhase(eve, 'hints', 10000);
    const orderAfter = await eve.page.locator('[data-testid=order-item]').evaluateAll((els) => els.map((e) => Number(e.dataset.userId)));
    assert.deepEqual(orderAfter, orderBefore, 'the same seat in the same speaking order');
    assert.equal(await eve.page.locator(`[data-testid=order-item][data-user-id="${eve.userId}"].me`).count(), 1);
    await shot(eve.page, 'reload-1-after-reload-phone-ko');

    // A dropped connection resumes from the last event seen (since-seq), card and all.
    await eve.page.evaluate(() => window.__liar.stomp.drop());
    await eve.page.waitForFunction(() => window.__liar.stomp.state === 'online' && window.__liar.room?.seq !== null, null, { timeout: 15000 });
    assert.deepEqual(await card(eve), before);

    // Everyone plays on: hints (the reloaded player gives his too), then the vote.
    let eveHinted = false;
    await playHints(ps, {
      onHint: async (p) => {
        if (p === eve) eveHinted = true;
      },
    });
    assert.ok(eveHinted, 'the reloaded player gave his hints');
    const cards = await Promise.all(ps.map(card));
    const liar = ps[cards.findIndex((c) => c.role === 'liar')];
    await Promise.all(ps.map((p) => waitPhase(p, 'vote', 20000)));
    // A reload during the vote keeps the count and lets him vote.
    await eve.page.reload();
    await waitPhase(eve, 'vote', 10000);
    await eve.tid('vote-progress').waitFor();
    for (const p of ps) await vote(p, p === liar ? ps.find((q) => q !== liar).userId : liar.userId);
    await Promise.all(ps.map((p) => waitPhase(p, 'guess', 20000)));
    await liar.tid('guess-input').fill('no-idea');
    await liar.tid('guess-submit').click();
    await Promise.all(ps.map((p) => p.tid('result').waitFor({ timeout: 20000 })));
    await shot(eve.page, 'reload-2-result-phone-ko');
    assert.equal(await eve.page.locator('[data-testid=result]').first().getAttribute('data-winner'), 'citizens');
  });
});
