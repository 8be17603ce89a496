// The result of a game, as the room screen, the lobby's "last game" card and the history detail
// show it. The first lines answer what every player asks at once: who was the liar, what was the
// word, why did this side win, and what did I get; then the defense and when the room reopens;
// then every vote and every player.

import { t, levelText } from '../i18n.js';
import { h, countdown } from '../dom.js';

/** Seconds the room shows a result before it reopens, for the countdown bar (SPEC §3 step 8). */
const RESULT_SECONDS = 10;

/** The single most voted player of the deciding round, if there was one. */
function accusedOf(votes = []) {
  const counts = new Map();
  for (const v of votes) counts.set(v.targetId, (counts.get(v.targetId) ?? 0) + 1);
  const top = Math.max(0, ...counts.values());
  const leaders = [...counts].filter(([, n]) => n === top).map(([id]) => id);
  return leaders.length === 1 ? leaders[0] : null;
}

/** Why the side won, in words (`reason` of game.ended). */
function reasonText(r, name) {
  switch (r.reason) {
    case 'wrong_accused': {
      const accused = r.accusedId ?? accusedOf(r.votes);
      return t('result.reason.wrong_accused', { name: accused != null ? name(accused) : '?' });
    }
    case 'tie':
      return r.votes?.length ? t('result.reason.tie') : t('result.reason.tie.none');
    case 'liar_guessed':
    case 'liar_missed':
      return t(`result.reason.${r.reason}`, { guess: r.guess ?? '' });
    case 'guess_timeout':
    case 'liar_left':
      return t(`result.reason.${r.reason}`);
    default:
      return null;
  }
}

/** A sentence with a live countdown in place of `{n}`. */
function sentenceWithCountdown(key, deadline, attrs) {
  const [before, after = ''] = t(key, { n: '\u0000' }).split('\u0000');
  return [before, countdown(deadline, RESULT_SECONDS, { class: 'countdown inline', ...attrs }), after];
}

/** The accused's statement, quoted. */
export function defenseQuote(defense, name, testid = 'defense-text') {
  if (!defense) return null;
  return h('blockquote', { class: 'defense', 'data-testid': testid, 'data-user-id': defense.userId }, h('p', { class: 'muted' }, t('result.defense', { name: name(defense.userId) })), h('p', { class: 'defense-words' }, defense.text));
}

/**
 * The result: `r` is game.ended (or a stored result); `defense` and `reopensAt` may come from the
 * room when the result itself lacks them.
 */
export function resultView(r, { name, me, defense = null, reopensAt = null }) {
  if (r.aborted) {
    return h('div', { class: 'result', 'data-testid': 'result', 'data-aborted': 'true' }, h('p', { class: 'big' }, t('result.aborted')), r.reason ? h('p', {}, t(`result.abort.${r.reason}`)) : null);
  }
  const mine = r.players?.find((p) => p.userId === me);
  const said = r.defense ?? defense;
  const why = reasonText(r, name);
  const iWasLiar = mine?.role === 'liar';
  const reopens = r.reopensAt ?? reopensAt;
  return h(
    'div',
    { class: `result winner-${r.winner}`, 'data-testid': 'result', 'data-winner': r.winner, 'data-reason': r.reason ?? '' },
    h('div', { class: 'result-head' }, h('p', { class: 'result-banner', 'data-testid': 'result-winner' }, t(`result.winner.${r.winner}`)), why ? h('p', { class: 'result-reason', 'data-testid': 'result-reason' }, why) : null),
    iWasLiar ? h('p', { class: 'you-liar', 'data-testid': 'result-you-liar' }, r.liarWord ? t('result.youWereFool', { word: r.liarWord }) : t('result.youWereLiar')) : null,
    mine ? myLine(mine) : null,
    h(
      'dl',
      { class: 'result-facts' },
      h('div', {}, h('dt', {}, t('result.liarWas')), h('dd', { 'data-testid': 'result-liar', 'data-user-id': r.liarId }, name(r.liarId))),
      h('div', {}, h('dt', {}, t('result.wordWas')), h('dd', { 'data-testid': 'result-word' }, r.word)),
      r.liarWord ? h('div', {}, h('dt', {}, t('result.liarWordWas')), h('dd', { 'data-testid': 'result-liar-word' }, r.liarWord)) : null,
      // An older result without a reason: the guess on its own line, only when there was one.
      !r.reason && typeof r.guess === 'string' ? h('div', {}, h('dt', {}, t('result.guess')), h('dd', { 'data-testid': 'result-guess' }, r.guess)) : null,
    ),
    defenseQuote(said, name, 'result-defense'),
    reopens ? h('p', { class: 'reopens muted', 'data-testid': 'reopens' }, sentenceWithCountdown('result.reopens', reopens, { 'data-testid': 'reopens-countdown' })) : null,
    details(r, { name, me }),
  );
}

function myLine(mine) {
  return h(
    'p',
    { class: `result-me ${mine.won ? 'won' : 'lost'}`, 'data-testid': 'my-exp', 'data-exp': mine.exp },
    h('strong', {}, mine.won ? t('result.youWon') : t('result.youLost')),
    ' ',
    mine.level ? t('result.myExp', { exp: mine.exp, level: levelText(mine.level), total: mine.totalExp ?? '—' }) : t('result.myExpOnly', { exp: mine.exp }),
  );
}

/** Every vote and every player: below the answers, in a section of its own. */
function details(r, { name, me }) {
  // A stored result (history) has no levels: those are the totals at the time of the game.
  const levels = (r.players ?? []).some((p) => p.level);
  return h(
    'section',
    { class: 'result-details', 'aria-label': t('result.details') },
    h('h3', {}, t('result.votes')),
    r.votes?.length
      ? h(
          'ul',
          { class: 'result-votes', 'data-testid': 'result-votes' },
          r.votes.map((v) => h('li', { class: v.targetId === r.liarId ? 'right' : '' }, t('result.voted', { voter: name(v.voterId), target: name(v.targetId) }))),
        )
      : h('p', { class: 'muted' }, t('result.noVotes')),
    h('h3', {}, t('result.players')),
    h(
      'div',
      // Scrolls sideways on a narrow screen: focusable, so the keyboard can scroll it too.
      { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': t('result.players') },
      h(
        'table',
        { class: 'result-players', 'data-testid': 'result-players' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('result.player')), h('th', { scope: 'col' }, t('result.role')), h('th', { scope: 'col' }, t('result.votedRight')), h('th', { scope: 'col' }, t('result.exp')), levels ? h('th', { scope: 'col' }, t('result.level')) : null)),
        h(
          'tbody',
          {},
          (r.players ?? []).map((p) =>
            h(
              'tr',
              { class: `${p.won ? 'won' : 'lost'}${p.userId === me ? ' me' : ''}`, 'data-user-id': p.userId },
              h('th', { scope: 'row' }, name(p.userId), p.left ? ` (${t('result.left')})` : ''),
              h('td', {}, t(`game.role.${p.role}`)),
              h('td', {}, p.role === 'liar' ? '—' : p.votedCorrectly ? '✓' : '✗'),
              h('td', {}, `+${p.exp ?? 0}`),
              levels ? h('td', {}, levelText(p.level)) : null,
            ),
          ),
        ),
      ),
    ),
  );
}
