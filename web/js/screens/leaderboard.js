// The ranking by experience (members who show their results), with cursor paging.

import * as api from '../api.js';
import { app } from '../app.js';
import { t, errorText, levelText } from '../i18n.js';
import { h, fill } from '../dom.js';

export function render(main) {
  let cursor = null;
  let items = [];
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'board-more', hidden: true, onclick: () => load(true) }, t('common.loadMore'));
  const status = h('p', { class: 'muted', role: 'status' }, t('common.loading'));

  async function load(append = false) {
    try {
      const page = await api.open('GET', `/api/leaderboard${api.qs({ cursor: append ? cursor : null, limit: 20 })}`);
      items = append ? items.concat(page.items) : page.items;
      cursor = page.nextCursor ?? null;
      status.textContent = items.length ? '' : t('board.empty');
      fill(
        body,
        items.map((r) =>
          h(
            'tr',
            { class: r.userId === app.me?.userId ? 'me' : '', 'data-testid': 'board-row', 'data-user-id': r.userId },
            h('td', { class: 'rank' }, r.rank),
            h('th', { scope: 'row' }, h('a', { href: `/users/${r.userId}`, 'data-link': true }, r.username)),
            h('td', {}, levelText(r.level)),
            h('td', {}, r.exp),
            h('td', {}, `${r.wins} / ${r.losses} / ${r.games}`),
          ),
        ),
      );
      more.hidden = !cursor;
    } catch (e) {
      status.textContent = errorText(e.code);
    }
  }

  main.append(
    h(
      'section',
      { class: 'card page' },
      h('h1', { tabindex: '-1' }, t('board.title')),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'board', 'data-testid': 'leaderboard' },
          h('thead', {}, h('tr', {}, ['board.rank', 'board.player', 'board.level', 'board.exp', 'board.record'].map((k) => h('th', { scope: 'col' }, t(k))))),
          body,
        ),
      ),
      status,
      more,
    ),
  );
  load();
  return {};
}
