// My games, with outcome and name filters and cursor paging; and one game's full result.

import * as api from '../api.js';
import { app } from '../app.js';
import { t, tn, errorText, formatDate } from '../i18n.js';
import { h, fill } from '../dom.js';
import { resultView } from './result.js';

export function render(main) {
  let outcome = '';
  let q = '';
  let cursor = null;
  let items = [];
  let timer = null;
  let generation = 0;

  const list = h('ul', { class: 'history-list', 'data-testid': 'history-list' });
  const more = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'history-more', hidden: true, onclick: () => load(true) }, t('common.loadMore'));
  const status = h('p', { class: 'muted', role: 'status' });

  async function load(append = false) {
    const gen = ++generation;
    status.textContent = t('common.loading');
    try {
      await app.loadTopics();
      const page = await api.call('GET', `/api/users/me/games${api.qs({ outcome, q, cursor: append ? cursor : null, limit: 10 })}`);
      if (gen !== generation) return;
      items = append ? items.concat(page.items) : page.items;
      cursor = page.nextCursor ?? null;
      status.textContent = '';
      draw();
    } catch (e) {
      if (gen === generation) status.textContent = errorText(e.code);
    }
  }

  function draw() {
    fill(list, items.length ? items.map(item) : h('li', { class: 'empty', 'data-testid': 'history-empty' }, t('history.empty')));
    more.hidden = !cursor;
  }

  function item(g) {
    const outcomeKey = g.aborted ? 'history.aborted' : g.won ? 'history.won' : 'history.lost';
    return h(
      'li',
      { class: `history-item ${g.aborted ? 'aborted' : g.won ? 'won' : 'lost'}`, 'data-testid': 'history-item', 'data-game-id': g.gameId },
      h('span', { class: `pill ${g.aborted ? '' : g.won ? 'pill-ready' : 'pill-lost'}` }, t(outcomeKey)),
      h(
        'div',
        { class: 'history-main' },
        h('a', { href: `/games/${g.gameId}`, 'data-link': true, class: 'history-name' }, g.gameName),
        h('span', { class: 'muted' }, [app.topicName(g.topic), tn('history.players', g.players), t('history.as', { role: t(`game.role.${g.myRole}`) }), formatDate(g.playedAt)].join(' · ')),
      ),
      h('span', { class: 'history-exp' }, `+${g.exp}`),
    );
  }

  const outcomeSelect = h(
    'select',
    { id: 'h-outcome', 'data-testid': 'history-outcome', onchange: (e) => ((outcome = e.target.value), load()) },
    ['', 'win', 'lose'].map((v) => h('option', { value: v }, t(`history.outcome.${v || 'all'}`))),
  );
  const search = h('input', {
    type: 'search',
    id: 'h-q',
    'data-testid': 'history-search',
    placeholder: t('history.search'),
    oninput: (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => ((q = e.target.value.trim()), load()), 250);
    },
  });

  main.append(
    h(
      'section',
      { class: 'card page' },
      h('h1', { tabindex: '-1' }, t('history.title')),
      h('div', { class: 'filters' }, h('label', { for: 'h-outcome', class: 'sr-only' }, t('history.outcome')), outcomeSelect, h('label', { for: 'h-q', class: 'sr-only' }, t('history.search')), search),
      status,
      list,
      more,
    ),
  );
  load();
  return { destroy: () => clearTimeout(timer) };
}

/** One game's full result (participants only). */
export function detail(main, idStr) {
  const box = h('section', { class: 'card page', 'data-testid': 'game-detail' }, h('h1', { tabindex: '-1' }, t('history.game', { id: idStr })), h('p', { class: 'muted' }, t('common.loading')));
  main.append(box);
  (async () => {
    try {
      await app.loadTopics();
      const g = await api.call('GET', `/api/games/${idStr}`);
      const ids = new Set([...(g.result?.players ?? []).map((p) => p.userId)]);
      const names = new Map();
      await Promise.all(
        [...ids].map(async (id) => {
          try {
            names.set(id, (await api.open('GET', `/api/users/${id}`)).username);
          } catch {
            names.set(id, `#${id}`);
          }
        }),
      );
      const result = g.aborted ? { aborted: true, reason: g.result?.reason } : { ...g.result, winner: g.winner ?? g.result?.winner, liarId: g.liarId ?? g.result?.liarId, word: g.word ?? g.result?.word };
      fill(
        box,
        h('a', { href: '/history', 'data-link': true, class: 'back' }, `← ${t('common.back')}`),
        h('h1', { tabindex: '-1' }, g.gameName),
        h('p', { class: 'muted' }, [app.topicName(g.topic), `${t('history.mode')}: ${t(`set.mode.${g.mode}`)}`, formatDate(g.endedAt)].join(' · ')),
        resultView(result, { name: (id) => names.get(id) ?? `#${id}`, me: app.me.userId }),
      );
    } catch (e) {
      fill(box, h('h1', { tabindex: '-1' }, t('history.game', { id: idStr })), h('p', { class: 'form-error' }, errorText(e.code)));
    }
  })();
  return {};
}
