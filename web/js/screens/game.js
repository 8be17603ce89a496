// The game, as one player sees it: his card, the speaking order and whose turn it is with a
// countdown, the hints so far, the vote with its live "k of n voted", the defense, the liar's
// guess, and the result with every vote and the experience gained.
//
// Only what arrived is shown: the card is this player's own; the liar is named only once the
// server names him (liar.revealed with liarId, or game.ended); ballots only in game.ended.

import { t, tn, errorText } from '../i18n.js';
import { h, countdown, charCount } from '../dom.js';
import { defenseQuote } from './result.js';

const PHASE_SECONDS = {
  deal: 'dealSeconds',
  hints: 'hintSeconds',
  discussion: 'discussionSeconds',
  vote: 'voteSeconds',
  defense: 'defenseSeconds',
  guess: 'guessSeconds',
};

function avatar(name) {
  return h('span', { class: 'avatar', 'aria-hidden': 'true' }, (name || '?').slice(0, 1).toUpperCase());
}

/** The player's own card. */
export function cardView(card) {
  if (!card) return h('div', { class: 'game-card card-pending', 'data-testid': 'card', 'data-role': 'none' }, t('game.noCard'));
  const liar = card.role === 'liar';
  return h(
    'div',
    { class: `game-card ${liar ? 'card-liar' : 'card-citizen'}`, 'data-testid': 'card', 'data-role': card.role, 'aria-label': t('game.yourCard') },
    h('p', { class: 'card-label' }, t('game.yourCard')),
    h('p', { class: 'card-role', 'data-testid': 'card-role' }, liar ? t('game.youAreLiar') : t('game.role.citizen')),
    h('dl', { class: 'card-facts' }, h('dt', {}, t('game.topic')), h('dd', { 'data-testid': 'card-topic' }, card.topic), liar ? null : [h('dt', {}, t('game.word')), h('dd', { class: 'card-word', 'data-testid': 'card-word' }, card.word)]),
    h('p', { class: 'card-tip' }, liar ? t('game.liarTip') : t('game.citizenTip')),
  );
}

/** Phase name and countdown. */
export function phaseBar(s) {
  const g = s.game;
  const total = g.phase === 'deal' ? g.settings?.dealSeconds : g.settings?.[PHASE_SECONDS[g.phase]];
  return h(
    'div',
    { class: `phase-bar phase-${g.phase}`, 'data-testid': 'phase', 'data-phase': g.phase },
    h('span', { class: 'phase-name' }, t(`game.phase.${g.phase}`)),
    g.phase === 'hints' && g.round ? h('span', { class: 'phase-round' }, t('game.round', { round: g.round, total: g.settings?.hintRounds ?? '?' })) : null,
    h('span', { class: 'phase-topic' }, `${t('game.topic')}: ${g.topic ?? ''}`),
    g.deadline ? h('span', { class: 'phase-timer', 'aria-label': t('game.timeLeft') }, countdown(g.deadline, total, { 'data-testid': 'countdown' })) : null,
  );
}

/** The speaking order, with the current speaker and anyone away. */
export function orderView(s) {
  const g = s.game;
  const liarId = g.revealed?.liarId ?? s.result?.liarId ?? null;
  return h(
    'ol',
    { class: 'order', 'data-testid': 'order', 'aria-label': t('game.order') },
    g.order.map((id) => {
      const p = g.players?.find((x) => x.userId === id) ?? {};
      const speaking = g.phase === 'hints' && g.speaker === id;
      const name = s.name(id);
      return h(
        'li',
        {
          class: `order-item${speaking ? ' speaking' : ''}${p.out ? ' out' : ''}${p.connected === false ? ' away' : ''}${id === s.me ? ' me' : ''}`,
          'data-testid': 'order-item',
          'data-user-id': id,
          'aria-current': speaking ? 'step' : null,
        },
        avatar(name),
        h('span', { class: 'order-name' }, name, id === s.me ? ` ${t('common.you')}` : ''),
        liarId === id ? h('span', { class: 'badge badge-liar', 'data-testid': 'liar-badge' }, t('game.role.liar')) : null,
        p.out ? h('span', { class: 'badge' }, t('game.playerOut')) : p.connected === false ? h('span', { class: 'badge badge-away' }, t('game.playerAway')) : null,
        speaking ? countdown(g.deadline, g.settings?.hintSeconds, { 'data-testid': 'turn-countdown', class: 'countdown small' }) : null,
      );
    }),
  );
}

/** Hints so far, by round, with skipped turns. */
export function hintsView(s) {
  const g = s.game;
  const items = [
    ...g.hints.map((x, i) => ({ ...x, i, kind: 'hint' })),
    ...(g.skips ?? []).map((x) => ({ ...x, i: (x.afterHints ?? x.at ?? 0) - 0.5, kind: 'skip' })),
  ].sort((a, b) => a.round - b.round || a.i - b.i);
  return h(
    'section',
    { class: 'hints', 'aria-labelledby': 'hints-h' },
    h('h3', { id: 'hints-h' }, t('game.hints')),
    items.length
      ? h(
          'ul',
          { class: 'hint-list', 'data-testid': 'hints' },
          items.map((x) =>
            h(
              'li',
              { class: `hint-item ${x.kind}`, 'data-testid': x.kind === 'hint' ? 'hint' : 'hint-skip', 'data-user-id': x.userId },
              h('span', { class: 'hint-who' }, s.name(x.userId)),
              x.kind === 'hint' ? h('span', { class: 'hint-text' }, x.text) : h('span', { class: 'hint-text muted' }, t('game.skipped', { reason: t(`game.skip.${x.reason}`) })),
              h('span', { class: 'hint-round' }, `R${x.round}`),
            ),
          ),
        )
      : h('p', { class: 'muted' }, t('game.noHints')),
  );
}

/** The reveal (liar.revealed), as soon as it arrives. */
function revealLine(s) {
  const r = s.game.revealed;
  if (!r) return null;
  return h(
    'p',
    { class: `big reveal${r.accusedIsLiar ? '' : ' reveal-citizen'}`, 'data-testid': 'reveal' },
    r.accusedIsLiar ? t('game.revealedLiar', { name: s.name(r.liarId) }) : t('game.revealedCitizen', { name: s.name(r.accusedId) }),
  );
}

function tallyView(s) {
  const g = s.game;
  if (!g.tally?.length && !g.voteResult) return null;
  return h(
    'div',
    { class: 'tally', 'data-testid': 'vote-result' },
    h('h3', {}, t('game.tally')),
    h(
      'ul',
      {},
      (g.tally ?? []).map((x) => h('li', { 'data-user-id': x.userId }, h('span', {}, s.name(x.userId)), h('span', { class: 'tally-n' }, tn('game.voteCount', x.votes)))),
    ),
    g.accused ? h('p', { class: 'accused' }, t('game.accused', { name: s.name(g.accused) })) : g.voteResult?.tie ? h('p', {}, t('game.tie')) : null,
  );
}

/**
 * A one-line form: label, input with a character count (`x/max`), button; `onSend(text)`
 * returns a promise. At the limit the count turns red and says so, and a key that would add
 * more shakes the box instead of being silently dropped.
 */
export function sendForm({ id, label, placeholder, button, maxlength, input, onSend, testid }) {
  input.id = id;
  input.maxLength = maxlength;
  input.placeholder = placeholder ?? '';
  input.autocomplete = 'off';
  input.dataset.testid = `${testid}-input`;
  const err = h('p', { class: 'field-error', role: 'alert', id: `${id}-error`, 'data-testid': `${testid}-error` });
  const count = h('span', { class: 'char-count', id: `${id}-count`, 'data-testid': `${testid}-count`, 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', `${id}-error ${id}-count`);
  const recount = () => {
    const n = charCount(input.value);
    count.textContent = t('game.chars', { n, max: maxlength });
    const full = n >= maxlength;
    count.classList.toggle('full', full);
    input.classList.toggle('at-limit', full);
    if (full) err.textContent = t('game.hintLimit', { max: maxlength });
    else if (err.dataset.limit) err.textContent = '';
    err.dataset.limit = full ? 'true' : '';
  };
  input.oninput = recount;
  input.onbeforeinput = (ev) => {
    const adding = ev.inputType?.startsWith('insert') && input.selectionStart === input.selectionEnd;
    if (adding && charCount(input.value) >= maxlength) {
      input.classList.remove('shake');
      void input.offsetWidth; // restart the animation
      input.classList.add('shake');
      recount();
    }
  };
  recount();
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': `${testid}-submit` }, button);
  const form = h('form', { class: 'send-form', 'data-testid': `${testid}-form`, novalidate: true }, h('div', { class: 'count-row' }, h('label', { for: id }, label), count), h('div', { class: 'send-row' }, input, btn), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) {
      err.textContent = t('field.REQUIRED');
      input.focus();
      return;
    }
    err.textContent = '';
    btn.disabled = true;
    try {
      await onSend(text);
      input.value = '';
      recount();
    } catch (e) {
      err.textContent = errorText(e.code);
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

/** What the player can do now, or whom everyone waits for. */
export function actionView(s, ui) {
  const g = s.game;
  const me = s.me;
  const mine = g.players?.find((p) => p.userId === me);
  const playing = Boolean(mine && !mine.out);
  switch (g.phase) {
    case 'deal':
      return h('div', { class: 'action' }, h('p', { class: 'big' }, t('game.phase.deal')));
    case 'hints': {
      if (g.speaker === me && playing) {
        return h(
          'div',
          { class: 'action action-mine', 'data-testid': 'my-turn' },
          h('p', { class: 'big', role: 'status' }, t('game.yourTurn')),
          sendForm({
            id: 'hint-input',
            label: t('game.hintLabel'),
            placeholder: t('game.hintPlaceholder'),
            button: t('game.hintSend'),
            maxlength: 100,
            input: ui.hintInput,
            testid: 'hint',
            onSend: (text) => s.send('hint', { text }),
          }),
        );
      }
      return h('div', { class: 'action', 'data-testid': 'their-turn' }, h('p', { class: 'big' }, g.speaker ? t('game.theirTurn', { name: s.name(g.speaker) }) : '…'));
    }
    case 'discussion':
      return h('div', { class: 'action' }, h('p', { class: 'big' }, t('game.discussionTip')));
    case 'vote': {
      const v = g.vote ?? { cast: 0, total: g.order.length };
      const revote = Boolean(v.revote);
      const candidates = revote && v.candidates?.length ? v.candidates : g.order;
      const options = candidates.filter((id) => id !== me && !g.players?.find((p) => p.userId === id)?.out);
      return h(
        'div',
        { class: 'action' },
        h('p', { class: 'big' }, revote ? t('game.revoteTip') : t('game.voteTip')),
        h('p', { class: 'vote-progress', 'data-testid': 'vote-progress', 'data-cast': v.cast, 'data-total': v.total, role: 'status' }, t('game.voteProgress', { cast: v.cast, total: v.total })),
        playing
          ? h(
              'fieldset',
              { class: 'vote-options', 'data-testid': 'vote-options' },
              h('legend', { class: 'sr-only' }, t('game.phase.vote')),
              options.map((id) =>
                h(
                  'label',
                  { class: `vote-option${s.myVote === id ? ' chosen' : ''}`, 'data-testid': 'vote-option', 'data-user-id': id },
                  h('input', {
                    type: 'radio',
                    name: 'vote',
                    value: id,
                    checked: s.myVote === id,
                    'aria-label': t('game.voteFor', { name: s.name(id) }),
                    onchange: async () => {
                      try {
                        await s.send('vote', { targetId: id });
                        s.rememberVote(id);
                      } catch (e) {
                        ui.toast(errorText(e.code), 'error');
                      }
                      ui.redraw();
                    },
                  }),
                  avatar(s.name(id)),
                  h('span', {}, s.name(id)),
                ),
              ),
            )
          : null,
        playing ? h('p', { class: 'muted', 'data-testid': 'my-vote' }, s.myVote ? t('game.votedFor', { name: s.name(s.myVote) }) : t('game.notVoted')) : null,
      );
    }
    case 'defense': {
      const accused = g.accused;
      const said = g.defense;
      return h(
        'div',
        { class: 'action' },
        tallyView(s),
        revealLine(s),
        said
          ? defenseQuote(said, (id) => s.name(id))
          : accused === me
            ? h(
                'div',
                { class: 'action-mine' },
                h('p', { class: 'big', role: 'status' }, t('game.defenseYou')),
                sendForm({ id: 'defense-input', label: t('game.defenseLabel'), button: t('game.defenseSend'), maxlength: 300, input: ui.defenseInput, testid: 'defense', onSend: (text) => s.send('defense', { text }) }),
              )
            : h('p', { class: 'big' }, t('game.defenseWait', { name: s.name(accused) })),
      );
    }
    case 'guess': {
      const r = g.revealed;
      const liarId = r?.liarId;
      const said = g.defense;
      return h(
        'div',
        { class: 'action' },
        tallyView(s),
        defenseQuote(said, (id) => s.name(id)),
        revealLine(s),
        liarId === me
          ? h(
              'div',
              { class: 'action-mine' },
              h('p', { role: 'status' }, t('game.guessYou')),
              sendForm({ id: 'guess-input', label: t('game.guessLabel'), button: t('game.guessSend'), maxlength: 100, input: ui.guessInput, testid: 'guess', onSend: (word) => s.send('guess', { word }) }),
            )
          : h('p', {}, t('game.guessWait', { name: s.name(liarId) })),
      );
    }
    case 'result':
      // The result itself is drawn above the card (room.js); until game.ended arrives, what is
      // known already: the reveal and the defense.
      return s.result ? null : h('div', { class: 'action' }, revealLine(s), defenseQuote(g.defense, (id) => s.name(id)), h('p', { class: 'big' }, t('result.title'), '…'));
    default:
      return null;
  }
}
