// The room: members with host badge, ready toggles, the host's settings, kick and start, the
// chat; and, while a game runs, the game itself (./game.js).

import * as api from '../api.js';
import { app } from '../app.js';
import { t, errorText, fieldText } from '../i18n.js';
import { h, fill, field, setFieldError, confirmDialog } from '../dom.js';
import { settingsFields, syncSettings } from './settings.js';
import { cardView, phaseBar, orderView, hintsView, actionView } from './game.js';
import { resultView } from './result.js';
import { follow } from './phone.js';
import * as cues from '../cues.js';

/** Phases in which the server refuses chat. */
const CHAT_CLOSED = new Set(['hints', 'vote', 'guess']);

export function render(main, idStr) {
  const roomId = Number(idStr);
  let session = app.room && app.room.roomId === roomId && !app.room.closed ? app.room : null;
  if (!session && !app.room) session = app.enterRoom(roomId, { navigate: false });

  const section = h('section', { class: 'room', 'data-testid': 'room', 'data-room-id': roomId });
  main.append(section);

  if (!session) {
    notMember(section, roomId);
    return {};
  }

  // Inputs that survive redraws (a half-typed message is never lost).
  const ui = {
    hintInput: h('input', { type: 'text' }),
    defenseInput: h('input', { type: 'text' }),
    guessInput: h('input', { type: 'text' }),
    chatInput: h('input', { type: 'text', id: 'chat-input', maxlength: 300, autocomplete: 'off', 'data-testid': 'chat-input' }),
    toast: app.toast,
    redraw: () => draw(),
    confirmKick: null,
    dismissed: null,
  };

  const head = h('div', { class: 'room-head' });
  const stage = h('div', { class: 'room-stage' });
  const chatLog = h('ol', { class: 'chat-log', 'data-testid': 'chat-log', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const chatNote = h('p', { class: 'muted chat-note', 'data-testid': 'chat-closed' });
  const chatForm = h(
    'form',
    { class: 'chat-form', novalidate: true },
    h('label', { for: 'chat-input', class: 'sr-only' }, t('room.chat')),
    ui.chatInput,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'chat-send' }, t('room.chatSend')),
  );
  ui.chatInput.placeholder = t('room.chatPlaceholder');
  chatForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = ui.chatInput.value.trim();
    if (!text) return;
    try {
      await session.send('chat', { text });
      ui.chatInput.value = '';
    } catch (err) {
      app.toast(errorText(err.code), 'error');
    }
  });
  const side = h('aside', { class: 'card chat', 'aria-labelledby': 'chat-h' }, h('h2', { id: 'chat-h' }, t('room.chat')), chatLog, chatNote, chatForm);
  section.append(head, h('div', { class: 'room-body' }, stage, side));

  let settingsCard = null;
  let settingsHost = null;

  function drawHead() {
    const r = session.room;
    if (!r) {
      fill(head, h('h1', { tabindex: '-1' }, t('common.loading')));
      return;
    }
    const copy = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-ghost btn-small',
        'aria-label': t('room.copyCode'),
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(r.code);
            app.toast(t('common.copied'));
          } catch {
            /* not allowed here: the code is on screen anyway */
          }
        },
      },
      t('common.copy'),
    );
    const mode = session.game?.settings?.mode ?? r.settings?.mode;
    const topic = session.game?.topic ?? app.topicName(r.settings?.topicId ?? 'random');
    fill(
      head,
      h('h1', { tabindex: '-1', 'data-testid': 'room-name' }, r.name),
      mode ? h('span', { class: `badge badge-mode mode-${mode}`, 'data-testid': 'room-mode', 'data-mode': mode }, t('room.modeTopic', { mode: t(`mode.${mode}`), topic })) : null,
      h('span', { class: 'room-code' }, `${t('room.code')} `, h('strong', { class: 'code', 'data-testid': 'room-code' }, r.code), copy),
      r.private ? h('span', { class: 'badge' }, t('room.private')) : null,
      h('button', { type: 'button', class: 'btn btn-ghost btn-small room-leave', 'data-testid': 'leave-room', onclick: () => app.leaveRoom() }, t('room.leave')),
    );
  }

  function memberItem(m) {
    const r = session.room;
    const host = m.userId === r.hostId;
    const me = m.userId === session.me;
    const kicking = ui.confirmKick === m.userId;
    return h(
      'li',
      { class: `member${me ? ' me' : ''}${m.connected ? '' : ' away'}`, 'data-testid': 'member', 'data-user-id': m.userId, 'data-ready': String(m.ready), 'data-username': m.username },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, m.username.slice(0, 1).toUpperCase()),
      h('span', { class: 'member-name' }, m.username, me ? ` ${t('common.you')}` : ''),
      host ? h('span', { class: 'badge badge-host', 'data-testid': 'host-badge' }, '★ ', t('room.host')) : null,
      !host ? h('span', { class: `pill ${m.ready ? 'pill-ready' : 'pill-wait'}`, 'data-testid': 'member-ready' }, m.ready ? t('room.ready') : t('room.notReady')) : null,
      m.connected ? null : h('span', { class: 'badge badge-away' }, t('room.away')),
      session.isHost && !me
        ? kicking
          ? h(
              'span',
              { class: 'kick-confirm' },
              h('span', { class: 'sr-only' }, t('room.kickConfirm', { name: m.username })),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-danger btn-small',
                  'data-testid': 'kick-confirm',
                  onclick: async () => {
                    ui.confirmKick = null;
                    try {
                      await session.send('kick', { userId: m.userId });
                    } catch (e) {
                      app.toast(errorText(e.code), 'error');
                    }
                    draw();
                  },
                },
                t('room.kick'),
              ),
              h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => ((ui.confirmKick = null), draw()) }, t('common.cancel')),
            )
          : h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'kick', 'aria-label': `${t('room.kick')}: ${m.username}`, onclick: () => ((ui.confirmKick = m.userId), draw()) }, t('room.kick'))
        : null,
    );
  }

  function lobbyStage() {
    const r = session.room;
    const me = session.member(session.me);
    const others = r.members.filter((m) => m.userId !== r.hostId);
    const canStart = r.members.length >= 3 && others.every((m) => m.ready);
    const controls = session.isHost
      ? h(
          'div',
          { class: 'room-actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'btn btn-primary btn-big',
              'data-testid': 'start',
              'aria-disabled': canStart ? null : 'true',
              onclick: async () => {
                try {
                  await session.send('start');
                } catch (e) {
                  app.toast(errorText(e.code), 'error');
                }
              },
            },
            t('room.start'),
          ),
          canStart ? null : h('p', { class: 'muted' }, t('room.startNeeds')),
        )
      : h(
          'div',
          { class: 'room-actions' },
          h(
            'button',
            {
              type: 'button',
              class: `btn btn-big ${me?.ready ? '' : 'btn-primary'}`,
              'data-testid': 'ready-toggle',
              'aria-pressed': String(Boolean(me?.ready)),
              onclick: async () => {
                try {
                  await session.send('ready', { ready: !me?.ready });
                } catch (e) {
                  app.toast(errorText(e.code), 'error');
                }
              },
            },
            me?.ready ? t('room.cancelReady') : t('room.iAmReady'),
          ),
          h('p', { class: `ready-status ${me?.ready ? 'is-ready' : ''}`, 'data-testid': 'my-ready-status', role: 'status' }, me?.ready ? t('room.youAreReady') : t('room.youAreNotReady')),
        );

    // The settings card is built once and then kept in step (the host's typing and the open
    // state of the disclosure survive every redraw).
    if (!settingsCard || settingsHost !== session.isHost) {
      settingsHost = session.isHost;
      const box = h('div', { class: 'settings-grid', 'data-testid': 'room-settings' });
      settingsCard = h(
        'section',
        { class: 'card' },
        h('details', { class: 'settings-details' }, h('summary', {}, h('h2', { class: 'inline' }, t('room.settings'))), session.isHost ? null : h('p', { class: 'muted' }, t('room.settingsHostOnly')), box),
      );
      app.loadTopics().then((topics) => {
        fill(
          box,
          settingsFields({
            prefix: 'rs',
            topics,
            values: session.room.settings,
            editable: session.isHost,
            onChange: async (key, value) => {
              setFieldError(box, `rs-${key}`, '');
              try {
                await session.send('settings', { [key]: value });
              } catch (e) {
                if (e.code === 'VALIDATION') setFieldError(box, `rs-${key}`, fieldText(key, 'OUT_OF_RANGE'));
                else app.toast(errorText(e.code), 'error');
                syncSettings(box, 'rs', session.room.settings, session.isHost);
              }
            },
          }),
        );
      });
    } else {
      syncSettings(settingsCard, 'rs', r.settings, session.isHost);
    }

    const last = session.result && ui.dismissed !== session.result ? session.result : null;
    return [
      last
        ? h(
            'section',
            { class: 'card last-result', 'aria-labelledby': 'last-h' },
            h('div', { class: 'card-head' }, h('h2', { id: 'last-h' }, t('room.lastResult')), h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => ((ui.dismissed = last), draw()) }, t('room.dismiss'))),
            resultView(last, { name: (id) => session.name(id), me: session.me }),
          )
        : null,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'members-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'members-h' }, t('room.members')), h('span', { class: 'muted' }, `${r.members.length}/${r.settings.maxPlayers}`)),
        h('ul', { class: 'members', 'data-testid': 'members' }, r.members.map(memberItem)),
        controls,
        r.private ? h('p', { class: 'muted' }, t('room.share')) : null,
      ),
      settingsCard,
    ];
  }

  function gameStage() {
    const g = session.game;
    const result = g.phase === 'result' && session.result
      ? h('section', { class: 'card result-card', 'data-testid': 'result-card', 'aria-labelledby': 'result-h' }, h('h2', { id: 'result-h', class: 'sr-only' }, t('result.title')), resultView(session.result, { name: (id) => session.name(id), me: session.me, defense: g.defense, reopensAt: session.reopensAt }))
      : null;
    const action = actionView(session, ui);
    return [
      result,
      h(
        'section',
        { class: 'card game', 'data-testid': 'game', 'aria-labelledby': 'phase-h' },
        h('h2', { id: 'phase-h', class: 'sr-only' }, t('game.phase')),
        phaseBar(session),
        h('div', { class: 'game-grid' }, cardView(session.card), action ? h('div', { class: 'game-action', 'data-testid': 'game-action' }, action) : null),
      ),
      h('section', { class: 'card', 'aria-labelledby': 'order-h' }, h('h2', { id: 'order-h' }, t('game.order')), orderView(session)),
      session.game.phase !== 'deal' ? h('section', { class: 'card' }, hintsView(session)) : null,
    ];
  }

  let chatCount = 0;
  function drawChat() {
    const log = session.log;
    if (log.length < chatCount) {
      fill(chatLog);
      chatCount = 0;
    }
    const atBottom = chatLog.scrollHeight - chatLog.scrollTop - chatLog.clientHeight < 40;
    for (const item of log.slice(chatCount)) {
      chatLog.append(
        item.kind === 'chat'
          ? h('li', { class: `chat-msg${item.userId === session.me ? ' mine' : ''}`, 'data-testid': 'chat-message' }, h('span', { class: 'chat-who' }, item.username), h('span', { class: 'chat-text' }, item.text))
          : h('li', { class: 'chat-note-item', 'data-testid': 'chat-note' }, t(item.key, noteParams(item.params))),
      );
    }
    chatCount = log.length;
    if (!chatLog.children.length) fill(chatLog, h('li', { class: 'muted empty' }, t('room.chatEmpty')));
    else chatLog.querySelector('.empty')?.remove();
    if (atBottom) chatLog.scrollTop = chatLog.scrollHeight;
    const closed = Boolean(session.game && CHAT_CLOSED.has(session.game.phase));
    chatNote.textContent = closed ? t('room.chatClosed') : '';
    ui.chatInput.disabled = closed;
    chatForm.querySelector('button').disabled = closed;
  }

  function draw() {
    if (session.refused) {
      notMember(section, roomId, session.refused);
      return;
    }
    const focused = document.activeElement;
    const focusKey = focused?.dataset?.testid;
    drawHead();
    if (session.room) {
      document.body.dataset.phase = session.game?.phase ?? 'lobby';
      fill(stage, session.game ? gameStage() : lobbyStage());
    } else {
      fill(stage, h('p', { class: 'muted' }, t('common.loading')));
    }
    drawChat();
    // A redraw must not take the keyboard focus away.
    if (focused && focused !== document.activeElement) {
      if (document.contains(focused)) focused.focus();
      else if (focusKey) section.querySelector(`[data-testid="${focusKey}"]`)?.focus();
    }
  }

  const onChange = (e) => {
    const kind = e.detail.kind;
    if (kind === 'game.started') {
      ui.hintInput.value = '';
      ui.defenseInput.value = '';
      ui.guessInput.value = '';
    }
    if (kind === 'settings.changed' && !session.isHost) announceSettings();
    // A new turn for me: put the cursor in the hint box.
    const wasMyTurn = ui.myTurn;
    ui.myTurn = session.game?.phase === 'hints' && session.game.speaker === session.me;
    draw();
    if (ui.myTurn && !wasMyTurn && document.activeElement !== ui.chatInput) ui.hintInput.focus();
    cues.onRoomEvent(session, kind, { myTurn: ui.myTurn && !wasMyTurn });
    follow(section, session, kind);
  };

  /** A mode change by the host is told to everyone else, not only shown in the settings. */
  function announceSettings() {
    if (session.changedMode) app.toast(t('event.modeChanged', { mode: t(`mode.${session.changedMode}`) }));
  }
  session.addEventListener('change', onChange);
  draw();

  return {
    destroy() {
      session.removeEventListener('change', onChange);
      delete document.body.dataset.phase;
    },
  };
}

/** Chat notes carry wire values (a mode, a topic id): shown in words. */
function noteParams(params = {}) {
  const out = { ...params };
  if (params.mode) out.mode = t(`mode.${params.mode}`);
  if (params.topicId) out.topic = app.topicName(params.topicId);
  return out;
}

/** Not seated here: show the room and offer to join (with its password when private). */
function notMember(section, roomId, why) {
  const box = h('div', { class: 'card narrow', 'data-testid': 'not-member' }, h('h1', { tabindex: '-1' }, t('common.loading')));
  fill(section, box);
  api
    .open('GET', `/api/rooms/${roomId}`)
    .then((r) => {
      const pw = r.private ? field({ id: 'nm-password', label: t('lobby.roomPassword'), control: h('input', { type: 'password', autocomplete: 'off' }), testid: 'join-password' }) : null;
      const form = h(
        'form',
        { class: 'stack', novalidate: true },
        pw,
        h('p', { class: 'form-error', role: 'alert' }),
        h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'join-this' }, t('room.joinThis')),
      );
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const password = form.querySelector('#nm-password')?.value;
        const seat = app.room;
        if (seat && !seat.closed && seat.roomId !== roomId) {
          const ok = await confirmDialog({ title: t('lobby.switchTitle'), text: t('lobby.switchRoom', { name: seat.room?.name ?? `#${seat.roomId}` }), ok: t('lobby.switchConfirm'), cancel: t('common.cancel') });
          if (!ok) return;
        }
        try {
          await app.stomp.send(`/app/rooms/${roomId}/join`, password ? { password } : {});
          app.enterRoom(roomId);
        } catch (err) {
          if (pw && err.code === 'WRONG_PASSWORD') setFieldError(form, 'nm-password', errorText(err.code));
          else form.querySelector('.form-error').textContent = errorText(err.code);
        }
      });
      fill(
        box,
        h('h1', { tabindex: '-1' }, r.name),
        h('p', { class: 'muted' }, why?.code === 'FORBIDDEN' || !why ? t('room.notMember') : errorText(why.code)),
        h('p', {}, t('lobby.members', { n: r.members.length, max: r.settings.maxPlayers }), ' · ', t(`lobby.status.${r.status}`)),
        form,
      );
    })
    .catch((e) => {
      fill(box, h('h1', { tabindex: '-1' }, t('room.notFound')), h('p', { class: 'muted' }, errorText(e.code)), h('a', { class: 'btn', href: '/lobby', 'data-link': true }, t('nav.lobby')));
    });
}
