// The lobby: the live room list (/topic/lobby), search, create a room with settings, join by
// code (private rooms too), and a way back to the room the player already sits in.

import * as api from '../api.js';
import { app } from '../app.js';
import { t, errorText, fieldText } from '../i18n.js';
import { h, fill, field, setFieldError, confirmDialog, charCount } from '../dom.js';
import { settingsFields, readSettings } from './settings.js';

/** Longest room name the server accepts (SPEC §2.1). */
const MAX_ROOM_NAME = 30;

export function render(main) {
  let q = '';
  let status = '';
  let items = [];
  let nextCursor = null;
  let loading = false;
  let searchTimer = null;
  const details = new Map(); // roomId → settings, for summaries without mode and topic
  const pending = new Set();

  const list = h('ul', { class: 'room-list', 'data-testid': 'room-list', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'rooms-more', hidden: true, onclick: () => load(true) }, t('common.loadMore'));

  const matches = (r) =>
    !r.private &&
    (!status || r.status === status) &&
    (!q || r.name.toLowerCase().includes(q.toLowerCase()) || (r.hostName ?? '').toLowerCase().includes(q.toLowerCase()));

  function drawList() {
    fill(list, items.length ? items.map(roomItem) : h('li', { class: 'empty', 'data-testid': 'rooms-empty' }, t('lobby.empty')));
    more.hidden = !nextCursor;
  }

  async function load(append = false) {
    if (loading) return;
    loading = true;
    try {
      const page = await api.open('GET', `/api/rooms${api.qs({ q, status, cursor: append ? nextCursor : null, limit: 20 })}`);
      items = append ? items.concat(page.items.filter((r) => !items.some((x) => x.roomId === r.roomId))) : page.items;
      nextCursor = page.nextCursor ?? null;
      drawList();
    } catch (e) {
      app.toast(errorText(e.code), 'error');
    } finally {
      loading = false;
    }
  }

  function onLobby(ev) {
    if (!ev) return;
    if (ev.type === 'room.removed') {
      items = items.filter((r) => r.roomId !== ev.roomId);
    } else if (ev.type === 'room.created' || ev.type === 'room.updated') {
      const r = ev.room;
      details.delete(r.roomId); // settings may have changed
      const i = items.findIndex((x) => x.roomId === r.roomId);
      if (!matches(r)) {
        if (i >= 0) items.splice(i, 1);
      } else if (i >= 0) items[i] = r;
      else if (ev.type === 'room.created') items.unshift(r);
      else items.push(r);
    }
    drawList();
  }

  function roomItem(r) {
    const full = r.members >= r.maxPlayers;
    const mine = app.room?.roomId === r.roomId;
    return h(
      'li',
      { class: 'room-item', 'data-testid': 'room-item', 'data-room-id': r.roomId, 'data-room-name': r.name },
      h(
        'div',
        { class: 'room-main' },
        h('span', { class: 'room-name' }, r.name),
        h('span', { class: 'room-meta' }, t('lobby.host', { name: r.hostName }), ' · ', h('span', { class: 'code' }, r.code)),
        modeLine(r),
      ),
      h('span', { class: `pill pill-${r.status}` }, t(`lobby.status.${r.status}`)),
      h('span', { class: 'room-count', 'aria-label': `${r.members}/${r.maxPlayers}` }, t('lobby.members', { n: r.members, max: r.maxPlayers })),
      mine
        ? h('a', { class: 'btn btn-small', href: `/rooms/${r.roomId}`, 'data-link': true }, t('lobby.return'))
        : h(
            'button',
            {
              type: 'button',
              class: 'btn btn-small btn-primary',
              'data-testid': 'room-join',
              disabled: full || r.status !== 'waiting',
              'aria-label': `${t('lobby.join')}: ${r.name}`,
              onclick: () => join(r.roomId),
            },
            full ? t('lobby.full') : t('lobby.join'),
          ),
    );
  }

  /** Mode and topic of a listed room: from the summary, or (an older server) its full view. */
  function modeLine(r) {
    const settings = r.settings ?? (r.mode ? { mode: r.mode, topicId: r.topicId } : details.get(r.roomId));
    if (!settings) {
      fetchDetails(r.roomId);
      return h('span', { class: 'room-mode muted', 'data-testid': 'room-item-mode' });
    }
    return h('span', { class: 'room-mode', 'data-testid': 'room-item-mode', 'data-mode': settings.mode }, t('room.modeTopic', { mode: t(`mode.${settings.mode}`), topic: app.topicName(settings.topicId ?? 'random') }));
  }

  async function fetchDetails(roomId) {
    if (details.has(roomId) || pending.has(roomId)) return;
    pending.add(roomId);
    try {
      const view = await api.open('GET', `/api/rooms/${roomId}`);
      details.set(roomId, view.settings);
      drawList();
    } catch {
      /* gone meanwhile: the lobby event removes it */
    } finally {
      pending.delete(roomId);
    }
  }

  /** Joining another room leaves the one the player sits in: ask first. */
  async function mayLeaveCurrent(roomId) {
    const seat = app.room;
    if (!seat || seat.closed || seat.roomId === roomId) return true;
    return confirmDialog({
      title: t('lobby.switchTitle'),
      text: t('lobby.switchRoom', { name: seat.room?.name ?? `#${seat.roomId}` }),
      ok: t('lobby.switchConfirm'),
      cancel: t('common.cancel'),
    });
  }

  async function join(roomId, password, onError) {
    if (!(await mayLeaveCurrent(roomId))) return;
    try {
      await app.stomp.send(`/app/rooms/${roomId}/join`, password ? { password } : {});
      app.enterRoom(roomId);
    } catch (e) {
      if (onError) onError(e);
      else app.toast(errorText(e.code), 'error');
    }
  }

  // --- search ---
  const search = h('input', {
    type: 'search',
    id: 'room-search',
    'data-testid': 'room-search',
    placeholder: t('lobby.search'),
    'aria-label': t('lobby.search'),
    oninput: (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        q = e.target.value.trim();
        load();
      }, 250);
    },
  });
  const statusSelect = h(
    'select',
    { 'aria-label': t('lobby.status'), 'data-testid': 'room-status-filter', onchange: (e) => ((status = e.target.value), load()) },
    h('option', { value: '' }, t('lobby.status.all')),
    h('option', { value: 'waiting' }, t('lobby.status.waiting')),
    h('option', { value: 'playing' }, t('lobby.status.playing')),
  );

  // --- create ---
  const settingsBox = h('div', { class: 'settings-grid' });
  const createForm = h(
    'form',
    { class: 'stack', novalidate: true, 'data-testid': 'create-room-form' },
    field({ id: 'c-name', label: t('lobby.roomName'), control: h('input', { type: 'text', maxlength: MAX_ROOM_NAME, autocomplete: 'off' }), hint: t('lobby.roomNameHint'), testid: 'create-name' }),
    field({ id: 'c-password', label: t('lobby.password'), control: h('input', { type: 'password', autocomplete: 'new-password' }), hint: t('lobby.passwordHint'), testid: 'create-password' }),
    h('details', { class: 'settings-details' }, h('summary', {}, t('room.settings')), settingsBox),
    h('p', { class: 'form-error', role: 'alert', 'data-testid': 'create-error' }),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'create-submit' }, t('lobby.createSubmit')),
  );
  app.loadTopics().then((topics) => fill(settingsBox, settingsFields({ prefix: 'cs', topics, editable: true })));
  createForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = createForm.querySelector('#c-name').value.trim();
    const password = createForm.querySelector('#c-password').value;
    const settings = readSettings(settingsBox, 'cs');
    setFieldError(createForm, 'c-name', '');
    setFieldError(createForm, 'c-password', '');
    createForm.querySelector('.form-error').textContent = '';
    if (!name) return setFieldError(createForm, 'c-name', t('field.REQUIRED'));
    if (charCount(name) > MAX_ROOM_NAME) return setFieldError(createForm, 'c-name', fieldText('name', 'TOO_LONG'));
    if (!(await mayLeaveCurrent(null))) return;
    const button = createForm.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const body = { name, settings };
      if (password) body.password = password;
      const r = await api.call('POST', '/api/rooms', body);
      app.enterRoom(r.roomId);
    } catch (e) {
      button.disabled = false;
      if (e.code === 'VALIDATION') {
        const other = [];
        for (const fe of e.errors) {
          if (fe.field === 'name') setFieldError(createForm, 'c-name', fieldText('name', fe.code));
          else if (fe.field === 'password') setFieldError(createForm, 'c-password', fieldText('password', fe.code));
          else other.push(`${t(`set.${fe.field.replace(/^settings\.?/, '')}`)}: ${fieldText(fe.field, fe.code)}`);
        }
        if (other.length) createForm.querySelector('.form-error').textContent = other.join(' ');
      } else {
        createForm.querySelector('.form-error').textContent = errorText(e.code);
      }
    }
  });

  // --- join by code ---
  const pwField = field({ id: 'j-password', label: t('lobby.roomPassword'), control: h('input', { type: 'password', autocomplete: 'off' }), testid: 'join-password' });
  pwField.hidden = true;
  const codeForm = h(
    'form',
    { class: 'stack', novalidate: true, 'data-testid': 'join-code-form' },
    field({
      id: 'j-code',
      label: t('lobby.code'),
      control: h('input', { type: 'text', maxlength: 6, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', class: 'code-input' }),
      hint: t('lobby.codeHint'),
      testid: 'join-code',
    }),
    pwField,
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'join-code-submit' }, t('lobby.joinSubmit')),
  );
  codeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = codeForm.querySelector('#j-code').value.trim().toUpperCase();
    const password = codeForm.querySelector('#j-password').value;
    setFieldError(codeForm, 'j-code', '');
    setFieldError(codeForm, 'j-password', '');
    if (!code) {
      setFieldError(codeForm, 'j-code', t('field.REQUIRED'));
      return;
    }
    let room;
    try {
      room = await api.open('GET', `/api/rooms/${encodeURIComponent(code)}`);
    } catch (e) {
      setFieldError(codeForm, 'j-code', errorText(e.code));
      return;
    }
    if (room.private && !password) {
      pwField.hidden = false;
      setFieldError(codeForm, 'j-password', t('lobby.needsPassword'));
      codeForm.querySelector('#j-password').focus();
      return;
    }
    await join(room.roomId, password, (e) => {
      if (e.code === 'WRONG_PASSWORD') {
        pwField.hidden = false;
        setFieldError(codeForm, 'j-password', errorText(e.code));
      } else setFieldError(codeForm, 'j-code', errorText(e.code));
    });
  });

  // --- "you are in a room" ---
  const current = h('div', { 'data-testid': 'current-room-slot' });
  function drawCurrent() {
    const room = app.room;
    if (!room || room.closed) {
      fill(current);
      return;
    }
    fill(
      current,
      h(
        'div',
        { class: 'notice notice-info current-room', 'data-testid': 'current-room' },
        h('span', {}, t('lobby.inRoom', { name: room.room?.name ?? `#${room.roomId}` })),
        h('a', { class: 'btn btn-small btn-primary', href: `/rooms/${room.roomId}`, 'data-link': true }, t('lobby.return')),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => app.leaveRoom() }, t('lobby.leave')),
      ),
    );
  }
  const roomListener = () => drawCurrent();
  const watched = app.room;
  watched?.addEventListener('change', roomListener);

  main.append(
    h(
      'section',
      { class: 'lobby' },
      h('h1', { tabindex: '-1', class: 'sr-only' }, t('lobby.title')),
      current,
      h(
        'div',
        { class: 'lobby-grid' },
        h(
          'section',
          { class: 'card rooms-card', 'aria-labelledby': 'rooms-h' },
          h('div', { class: 'card-head' }, h('h2', { id: 'rooms-h' }, t('lobby.rooms')), h('span', { class: 'live-dot', title: t('lobby.live') }, t('lobby.live'))),
          h('div', { class: 'filters' }, search, statusSelect),
          list,
          more,
        ),
        h(
          'div',
          { class: 'lobby-side' },
          h('section', { class: 'card', 'aria-labelledby': 'create-h' }, h('h2', { id: 'create-h' }, t('lobby.create')), createForm),
          h('section', { class: 'card', 'aria-labelledby': 'code-h' }, h('h2', { id: 'code-h' }, t('lobby.joinByCode')), codeForm),
        ),
      ),
    ),
  );

  drawCurrent();
  const unsub = app.stomp.subscribe('/topic/lobby', onLobby);
  // Reload the page of rooms whenever the connection comes back (events may have been missed).
  const stomp = app.stomp;
  const reload = (e) => e.detail === 'online' && load();
  stomp.addEventListener('state', reload);
  load();

  return {
    destroy() {
      unsub();
      clearTimeout(searchTimer);
      stomp.removeEventListener('state', reload);
      watched?.removeEventListener('change', roomListener);
    },
  };
}
