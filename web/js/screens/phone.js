// On a phone the room screen is one long column: it follows the game, so that the player never
// has to look for what matters now. When a game starts the card comes into view; at each phase
// the part that asks something of the player (the hint box, the vote, the defense, the guess),
// the chat while players discuss, and the result when it arrives. On a wide screen everything
// is in view already and nothing moves.

/** Narrower than this, the room is one column (app.css, `.room-body`). */
const ONE_COLUMN = '(max-width: 899px)';

/** What to bring into view after a room event, by event type. */
function target(section, session, kind) {
  const g = session.game;
  if (!g) return null;
  const q = (sel) => section.querySelector(sel);
  switch (kind) {
    case 'game.started':
    case 'card':
      return q('[data-testid=card]');
    case 'turn.started':
      return g.speaker === session.me ? q('[data-testid=my-turn]') : null;
    case 'phase.changed':
      if (g.phase === 'discussion') return q('.chat');
      if (g.phase === 'result') return q('[data-testid=result-card]') ?? q('[data-testid=game]');
      if (g.phase === 'hints') return g.speaker === session.me ? q('[data-testid=my-turn]') : q('[data-testid=game]');
      return q('[data-testid=game-action]') ?? q('[data-testid=game]');
    case 'game.ended':
    case 'game.aborted':
      return q('[data-testid=result-card]') ?? q('[data-testid=game]');
    default:
      return null;
  }
}

/** Scrolls the room to what the event `kind` made important (one-column layout only). */
export function follow(section, session, kind) {
  if (!window.matchMedia(ONE_COLUMN).matches) return;
  const el = target(section, session, kind);
  if (!el) return;
  const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches && document.documentElement.classList.contains('motion');
  // `scroll-padding-top` (app.css) keeps it clear of the sticky header.
  el.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
}
