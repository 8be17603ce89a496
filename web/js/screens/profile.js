// My profile (nickname, level and progress, record, results visibility) and others' public
// profiles.

import * as api from '../api.js';
import { app } from '../app.js';
import { t, errorText, fieldText, levelText } from '../i18n.js';
import { h, fill, field, setFieldError } from '../dom.js';

/** Level thresholds (SPEC §3.1). */
const LEVELS = [
  ['BRONZE1', 0],
  ['BRONZE2', 100],
  ['SILVER1', 300],
  ['SILVER2', 500],
  ['GOLD1', 800],
  ['GOLD2', 1200],
  ['PLATINUM', 1800],
  ['MASTER', 2500],
  ['LIAR', 3100],
];

function progress(exp) {
  let i = LEVELS.length - 1;
  while (i > 0 && exp < LEVELS[i][1]) i--;
  const next = LEVELS[i + 1];
  if (!next) return h('p', { class: 'muted' }, t('profile.max'));
  const from = LEVELS[i][1];
  return h(
    'div',
    { class: 'progress-wrap' },
    h('progress', { max: next[1] - from, value: exp - from, 'aria-label': t('profile.exp') }),
    h('p', { class: 'muted' }, t('profile.next', { n: next[1] - exp, level: levelText(next[0]) })),
  );
}

function stats(p) {
  const rate = p.games ? Math.round((p.wins / p.games) * 100) : 0;
  return h(
    'dl',
    { class: 'stats' },
    h('div', {}, h('dt', {}, t('profile.level')), h('dd', { 'data-testid': 'profile-level' }, levelText(p.level))),
    h('div', {}, h('dt', {}, t('profile.exp')), h('dd', { 'data-testid': 'profile-exp' }, p.exp)),
    h('div', {}, h('dt', {}, t('profile.record')), h('dd', {}, t('profile.recordValue', { wins: p.wins, losses: p.losses, games: p.games }))),
    h('div', {}, h('dt', {}, t('profile.winRate')), h('dd', {}, `${rate}%`)),
  );
}

export function render(main) {
  const box = h('section', { class: 'card page', 'data-testid': 'profile' });
  main.append(box);

  function draw() {
    const me = app.me;
    const nameForm = h(
      'form',
      { class: 'stack', novalidate: true },
      field({ id: 'p-username', label: t('profile.username'), control: h('input', { type: 'text', value: me.username, autocomplete: 'nickname' }), testid: 'profile-username' }),
      h('button', { type: 'submit', class: 'btn' }, t('common.save')),
    );
    nameForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      setFieldError(nameForm, 'p-username', '');
      try {
        app.me = await api.call('PATCH', '/api/users/me', { username: nameForm.querySelector('#p-username').value.trim() });
        app.toast(t('profile.saved'));
        app.refreshMe();
      } catch (err) {
        const fe = err.errors?.find((x) => x.field === 'username');
        setFieldError(nameForm, 'p-username', fe ? fieldText('username', fe.code) : errorText(err.code));
      }
    });
    const toggle = h('input', {
      type: 'checkbox',
      id: 'p-visible',
      role: 'switch',
      checked: me.resultsVisible,
      'data-testid': 'results-visible',
      onchange: async (e) => {
        const want = e.target.checked;
        e.target.disabled = true;
        try {
          app.me = await api.call('PATCH', '/api/users/me', { resultsVisible: want });
          app.toast(t('profile.saved'));
        } catch (err) {
          e.target.checked = !want;
          app.toast(errorText(err.code), 'error');
        }
        draw();
      },
    });
    fill(
      box,
      h('h1', { tabindex: '-1' }, t('profile.title')),
      h('p', { class: 'profile-head' }, h('span', { class: 'avatar avatar-big', 'aria-hidden': 'true' }, me.username.slice(0, 1).toUpperCase()), h('span', {}, h('strong', {}, me.username), h('br'), h('span', { class: 'muted' }, me.email))),
      stats(me),
      progress(me.exp),
      h('div', { class: 'switch-row' }, toggle, h('label', { for: 'p-visible' }, t('profile.visible'))),
      h('p', { class: 'muted', 'data-testid': 'visibility-note' }, me.resultsVisible ? t('profile.visibleOn') : t('profile.visibleOff')),
      nameForm,
    );
  }

  draw();
  app.refreshMe().then(draw, () => {});
  return {};
}

export function user(main, idStr) {
  const box = h('section', { class: 'card page', 'data-testid': 'public-profile' }, h('h1', { tabindex: '-1' }, t('common.loading')));
  main.append(box);
  api
    .open('GET', `/api/users/${idStr}`)
    .then((p) => {
      fill(
        box,
        h('h1', { tabindex: '-1' }, p.username),
        p.resultsVisible && p.level !== undefined ? [stats(p), progress(p.exp)] : h('p', { class: 'muted', 'data-testid': 'profile-hidden' }, t('profile.hidden')),
      );
    })
    .catch((e) => fill(box, h('h1', { tabindex: '-1' }, t('profile.title')), h('p', { class: 'form-error' }, errorText(e.code))));
  return {};
}
