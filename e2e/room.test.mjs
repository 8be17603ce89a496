// The room before a game: a private room joined by code and password, the host's settings
// reaching the guests live, a kick (and no way back in), leaving.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, player, register, createRoom, joinByCode, shot, uniq, onFailure, PHONE, DESKTOP } from './lib.mjs';

test('private room, live settings, kick and leave', { timeout: 120000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ps = await Promise.all([
    player(browser, { name: uniq('host'), viewport: DESKTOP }),
    player(browser, { name: uniq('jo'), viewport: PHONE }),
    player(browser, { name: uniq('kim'), viewport: PHONE, locale: 'ko-KR' }),
  ]);
  await onFailure('room', ps, async () => {
    const [host, jo, kim] = ps;
    await Promise.all(ps.map(register));
    const room = await createRoom(host, uniq('Secret '), {}, 'open sesame');
    // Private rooms are not listed.
    await jo.page.waitForTimeout(300);
    assert.equal(await jo.page.locator(`[data-testid=room-item][data-room-id="${room.roomId}"]`).count(), 0);

    // A wrong password is refused on its field, the right one lets him in.
    await jo.tid('join-code').fill(room.code);
    await jo.tid('join-code-submit').click();
    await jo.tid('join-password').waitFor();
    await jo.tid('join-password').fill('wrong one');
    await jo.tid('join-code-submit').click();
    await jo.tid('join-password-error').filter({ hasText: /Wrong room password/ }).waitFor();
    await jo.tid('join-password').fill('open sesame');
    await jo.tid('join-code-submit').click();
    await jo.tid('room-code').waitFor();
    await joinByCode(kim, room.code, 'open sesame');

    // The host changes a setting; the guests see it at once.
    await host.page.locator('[data-testid=room-settings]').locator('..').locator('summary').click();
    await host.tid('setting-hintRounds').fill('3');
    await host.tid('setting-hintRounds').press('Enter');
    await host.tid('setting-mode').selectOption('fool');
    await jo.page.waitForFunction(() => window.__liar.room?.room?.settings.hintRounds === 3 && window.__liar.room.room.settings.mode === 'fool');
    await jo.page.locator('[data-testid=room-settings]').locator('..').locator('summary').click();
    assert.equal(await jo.tid('setting-hintRounds').inputValue(), '3');
    assert.ok(await jo.tid('setting-hintRounds').isDisabled(), 'guests only see the settings');
    await shot(host.page, 'room-1-host-settings-desktop');

    // Kick, with a confirmation; the kicked player is told and cannot come back.
    await host.page.locator(`[data-testid=member][data-user-id="${kim.userId}"] [data-testid=kick]`).click();
    await host.tid('kick-confirm').click();
    await kim.tid('room-list').waitFor();
    await kim.page.locator('[data-testid=toast]', { hasText: '강퇴' }).waitFor();
    await shot(kim.page, 'room-2-kicked-phone-ko');
    await host.page.waitForFunction((id) => !document.querySelector(`[data-testid=member][data-user-id="${id}"]`), kim.userId);
    await kim.tid('join-code').fill(room.code);
    await kim.tid('join-code-submit').click();
    await kim.tid('join-password').fill('open sesame');
    await kim.tid('join-code-submit').click();
    await kim.tid('join-code-error').filter({ hasText: '강퇴' }).waitFor();

    // Leaving: the host sees it.
    await jo.tid('leave-room').click();
    await jo.tid('room-list').waitFor();
    await host.page.waitForFunction((id) => !document.querySelector(`[data-testid=member][data-user-id="${id}"]`), jo.userId);
    assert.equal(await host.tid('member').count(), 1);
  });
});
