// The application shell: session, the real-time connection, the current room, routing, the
// header, notices. Screens live in ./screens/ and render into <main>.

import * as api from './api.js';
import { StompClient } from './stomp.js';
import { RoomSession } from './room-session.js';
import { t, has, lang, setLang, onLang, LANGS, errorText, levelText } from './i18n.js';
import { h, fill, tickCountdowns } from './dom.js';
import * as authScreen from './screens/auth.js';
import * as lobbyScreen from './screens/lobby.js';
import * as roomScreen from './screens/room.js';
import * as historyScreen from './screens/history.js';
import * as leaderboardScreen from './screens/leaderboard.js';
import * as profileScreen from './screens/profile.js';
import * as adminScreen from './screens/admin.js';
import * as cues from './cues.js';

const ROOM_KEY = 'liar.room';

/** Everything screens share. */
export const app = {
  me: null, // GET /api/users/me
  stomp: null,
  room: null, // RoomSession of the room the player sits in
  pendingCard: null, // a card that arrived before the room subscription
  notice: null, // {key} explained on the login screen (e.g. a replaced session)
  topics: null,
  navigate,
  toast,
  refreshMe,
  enterRoom,
  leaveRoom,
  topicName,
};
window.__liar = app; // handy in the console and for tests

// ----- routing -----

const routes = [
  [/^\/login$/, authScreen.login, { guest: true }],
  [/^\/register$/, authScreen.register, { guest: true }],
  [/^\/(lobby)?$/, lobbyScreen.render],
  [/^\/rooms\/(\d+)$/, roomScreen.render],
  [/^\/history$/, historyScreen.render],
  [/^\/games\/(\d+)$/, historyScreen.detail],
  [/^\/leaderboard$/, leaderboardScreen.render],
  [/^\/profile$/, profileScreen.render],
  [/^\/users\/(\d+)$/, profileScreen.user],
  [/^\/admin\/topics$/, adminScreen.render],
];

let current = null; // {destroy}
const main = document.getElementById('main');

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else if (location.pathname !== path) history.pushState(null, '', path);
  render();
}

function render() {
  let path = location.pathname;
  if (!app.me && !['/login', '/register'].includes(path)) {
    history.replaceState(null, '', '/login');
    path = '/login';
  }
  if (app.me && ['/login', '/register'].includes(path)) {
    history.replaceState(null, '', '/lobby');
    path = '/lobby';
  }
  let match = null;
  let screen = null;
  for (const [re, fn] of routes) {
    match = path.match(re);
    if (match) {
      screen = fn;
      break;
    }
  }
  if (!screen) {
    history.replaceState(null, '', '/lobby');
    return render();
  }
  try {
    current?.destroy?.();
  } catch (e) {
    console.error(e);
  }
  current = null;
  fill(main);
  // Notices that belong to the screen being left go with it.
  for (const el of toasts.querySelectorAll('[data-screen]')) el.remove();
  renderHeader();
  current = screen(main, ...match.slice(1)) || null;
  document.body.dataset.route = path.split('/')[1] || 'lobby';
  const heading = main.querySelector('h1');
  if (heading && document.activeElement === document.body) heading.focus?.();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
onLang(() => {
  document.title = t('app.name');
  render();
});

// ----- header -----

const header = document.getElementById('header');
// The sticky header's height, so that scrolling to a focused element stops below it
// (`scroll-padding-top` in app.css).
new ResizeObserver(() => document.documentElement.style.setProperty('--header-h', `${header.offsetHeight}px`)).observe(header);

function renderHeader() {
  document.title = t('app.name');
  const skip = document.querySelector('.skip-link');
  if (skip) skip.textContent = t('nav.skip');
  const path = location.pathname;
  const link = (href, key, testid) =>
    h('a', { href, 'data-link': true, 'data-testid': testid, 'aria-current': path === href || (href === '/lobby' && (path === '/' || path.startsWith('/rooms'))) ? 'page' : null }, t(key));
  const langSelect = h(
    'select',
    { id: 'lang', 'data-testid': 'lang-switch', 'aria-label': t('lang.label'), onchange: (e) => setLang(e.target.value) },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(`lang.${l}`))),
  );
  const state = app.stomp?.state ?? 'offline';
  fill(
    header,
    h('a', { class: 'brand', href: app.me ? '/lobby' : '/login', 'data-link': true }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '?'), t('app.name')),
    app.me
      ? h(
          'nav',
          { 'aria-label': t('nav.main') },
          link('/lobby', 'nav.lobby', 'nav-lobby'),
          link('/history', 'nav.history', 'nav-history'),
          link('/leaderboard', 'nav.leaderboard', 'nav-leaderboard'),
          link('/profile', 'nav.profile', 'nav-profile'),
          app.me.admin ? link('/admin/topics', 'nav.topics', 'nav-topics') : null,
        )
      : null,
    h(
      'div',
      { class: 'header-tools' },
      app.me
        ? h(
            'span',
            { class: 'me-chip', 'data-testid': 'me' },
            h('span', { class: `conn conn-${state}`, title: t(`conn.${state}`), 'data-testid': 'conn-status', 'data-state': state }, h('span', { class: 'sr-only' }, t(`conn.${state}`))),
            h('span', { class: 'me-name' }, app.me.username),
            h('span', { class: 'level-chip', 'data-testid': 'level-chip', 'data-level': app.me.level, 'data-exp': app.me.exp, title: t('profile.expTotal', { n: app.me.exp }) }, levelText(app.me.level)),
          )
        : null,
      soundToggle(),
      langSelect,
      app.me ? h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'logout', onclick: logout }, t('nav.logout')) : null,
    ),
  );
}

function soundToggle() {
  const on = cues.soundOn();
  return h(
    'button',
    {
      type: 'button',
      class: `btn btn-ghost btn-small sound-toggle${on ? '' : ' muted-sound'}`,
      'data-testid': 'sound-toggle',
      'aria-pressed': String(on),
      'aria-label': t('sound.toggle'),
      title: on ? t('sound.on') : t('sound.off'),
      onclick: () => {
        cues.setSound(!cues.soundOn());
        renderHeader();
      },
    },
    '♪',
  );
}

// ----- notices -----

const toasts = document.getElementById('toasts');

/**
 * A short message at the bottom of the screen (announced to screen readers). With
 * `{screen: true}` it belongs to the screen shown now and goes when the player moves on.
 */
function toast(text, kind = 'info', { screen = false } = {}) {
  const el = h('div', { class: `toast toast-${kind}`, 'data-testid': 'toast', 'data-screen': screen ? '' : null, role: kind === 'error' ? 'alert' : 'status' }, text);
  toasts.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 6000 : 3500);
}

const banner = document.getElementById('banner');
function showConnState(state) {
  const wasOnline = showConnState.seen;
  if (state === 'online') showConnState.seen = true;
  if (state === 'online') app.restarting = false;
  const lost = wasOnline && state !== 'online' && app.stomp && !app.stomp.stopped;
  // A restart announced by the server (`server.shutdown`) reads differently from a lost network.
  const text = app.restarting ? t('conn.restarting') : t('conn.reconnecting');
  fill(banner, lost ? h('div', { class: 'banner', role: 'status', 'data-testid': 'reconnecting' }, text) : null);
  const dot = header.querySelector('[data-testid=conn-status]');
  if (dot) {
    dot.className = `conn conn-${state}`;
    dot.dataset.state = state;
    dot.title = t(`conn.${state}`);
    fill(dot, h('span', { class: 'sr-only' }, t(`conn.${state}`)));
  }
}

// ----- session and connection -----

async function refreshMe() {
  app.me = await api.call('GET', '/api/users/me');
  renderHeader();
  return app.me;
}

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

function startRealtime() {
  app.stomp?.stop();
  const stomp = new StompClient({
    url: wsUrl(),
    connectHeaders: async () => ({ Authorization: `Bearer ${await api.accessToken()}` }),
    onRefused: async ({ code }) => {
      if (code === 'TOKEN_EXPIRED') {
        try {
          await api.forceRefresh();
        } catch {
          return false;
        }
      }
      return true;
    },
    onFatal: (code) => sessionOver(code),
    onError: (e) => toast(errorText(e.code), 'error'),
    onState: showConnState,
  });
  app.stomp = stomp;
  stomp.subscribe('/user/queue/events', onPrivateEvent);
  stomp.start();
}

function onPrivateEvent(ev) {
  switch (ev?.type) {
    case 'session.replaced':
      sessionOver('SESSION_REPLACED');
      break;
    case 'session.ended':
      sessionOver(ev.code || 'SESSION_REVOKED');
      break;
    case 'server.shutdown':
      // The server is restarting: say so; the connection comes back by itself.
      app.restarting = true;
      showConnState('connecting');
      break;
    case 'game.card':
      if (app.room) app.room.setCard(ev);
      else app.pendingCard = ev;
      break;
    case 'room.kicked':
      if (!app.room || app.room.roomId === ev.roomId) roomGone({ code: 'KICKED' });
      break;
    case 'room.closed':
      if (!app.room || app.room.roomId === ev.roomId) roomGone({ closed: ev.reason });
      break;
    default:
      break;
  }
}

/** The session is over (replaced by a newer login, revoked): explain and go to the login. */
function sessionOver(code) {
  const wasIn = Boolean(app.me || app.stomp);
  app.stomp?.stop();
  app.stomp = null;
  app.room?.close();
  app.room = null;
  app.me = null;
  api.clearSession();
  app.notice = { code };
  showConnState('offline');
  if (wasIn) navigate('/login', { replace: true });
}
api.onSessionOver(sessionOver);

async function logout() {
  app.stomp?.stop();
  app.stomp = null;
  app.room?.close();
  app.room = null;
  await api.logout();
  app.me = null;
  app.notice = null;
  navigate('/login', { replace: true });
}

/**
 * After login or on start with a stored session: asks the server which room the member sits in
 * (a seat outlives a reload, a dropped connection and a login on another device) and follows it.
 * Returns that room's id when the server named one, else null.
 */
export async function signedIn() {
  const [, seat] = await Promise.all([refreshMe(), seatedRoom()]);
  startRealtime();
  if (seat === null) {
    // Not seated anywhere: a room remembered here is stale.
    forgetRoom();
    return null;
  }
  // The server's word, or (when it could not be asked) the room remembered in this browser.
  const roomId = seat ?? storedRoom();
  if (roomId && !app.room) enterRoom(roomId, { navigate: false });
  return seat;
}

/** Where to land after logging in: the member's room when he sits in one, else the lobby. */
export function home(seat) {
  if (!seat) return '/lobby';
  toast(t('room.resumed'));
  return `/rooms/${seat}`;
}

// ----- the current room -----

/**
 * The id of the room the member sits in; null when none (204, or the older 404 NOT_IN_ROOM);
 * undefined when the server can't say.
 */
async function seatedRoom() {
  try {
    return (await api.call('GET', '/api/rooms/current'))?.roomId ?? null;
  } catch (e) {
    if (e.code === 'NOT_IN_ROOM') return null;
    if (e.fatal) throw e;
    return undefined;
  }
}

function storedRoom() {
  const v = JSON.parse(localStorage.getItem(ROOM_KEY) || 'null');
  return v && app.me && v.userId === app.me.userId ? v.roomId : null;
}

/** Follows room `roomId` (the player sits there); returns its RoomSession. */
function enterRoom(roomId, { navigate: go = true } = {}) {
  roomId = Number(roomId);
  if (app.room && app.room.roomId === roomId && !app.room.closed) {
    if (go) navigate(`/rooms/${roomId}`);
    return app.room;
  }
  app.room?.close();
  const room = new RoomSession(app.stomp, roomId, app.me.userId);
  app.room = room;
  if (app.pendingCard) {
    room.card = app.pendingCard;
    app.pendingCard = null;
  }
  localStorage.setItem(ROOM_KEY, JSON.stringify({ userId: app.me.userId, roomId }));
  room.addEventListener('change', (e) => {
    if (e.detail.kind === 'game.ended') meAfterGame(e.detail.event);
    if (e.detail.kind === 'refused') {
      // Not (or no longer) a member: forget it quietly unless the player is looking at it.
      if (app.room === room) forgetRoom();
    } else if (room.ended) {
      roomGone(room.ended, room);
    }
  });
  if (go) navigate(`/rooms/${roomId}`);
  return room;
}

/** The header's level badge follows a game at once: from game.ended, then from the server. */
function meAfterGame(ev) {
  const mine = ev?.players?.find((p) => p.userId === app.me?.userId);
  if (mine?.level && typeof mine.totalExp === 'number') {
    app.me = { ...app.me, level: mine.level, exp: mine.totalExp };
    renderHeader();
  }
  refreshMe().catch(() => {});
}

function forgetRoom() {
  app.room?.close();
  app.room = null;
  localStorage.removeItem(ROOM_KEY);
}

/** The player is out of his room (left, kicked, closed). */
function roomGone(why, room = app.room) {
  if (!room || app.room !== room) return;
  forgetRoom();
  if (why.code === 'KICKED') toast(t('event.youKicked'), 'error');
  else if (why.closed) toast(has(`event.closed.${why.closed}`) ? t(`event.closed.${why.closed}`) : t('event.closed'), 'info');
  if (location.pathname.startsWith('/rooms/')) navigate('/lobby', { replace: true });
  else renderHeader();
}

async function leaveRoom() {
  const room = app.room;
  if (!room) return;
  try {
    await room.send('leave');
  } catch (e) {
    if (e.code !== 'NOT_A_MEMBER' && e.code !== 'ROOM_NOT_FOUND') {
      toast(errorText(e.code), 'error');
      return;
    }
  }
  if (app.room === room) forgetRoom();
  navigate('/lobby');
}

// ----- topics (names for history) -----

async function loadTopics() {
  if (!app.topics) {
    try {
      app.topics = (await api.open('GET', '/api/topics')).items;
    } catch {
      app.topics = [];
    }
  }
  return app.topics;
}
function topicName(id) {
  if (id === 'random') return t('set.topic.random');
  const topic = app.topics?.find((x) => x.id === id);
  return topic ? topic.name[lang()] ?? topic.name.en : id;
}
app.loadTopics = loadTopics;

// ----- start -----

setInterval(tickCountdowns, 250);

async function boot() {
  document.title = t('app.name');
  if (api.session()) {
    try {
      const seat = await signedIn();
      // Opening the site (not a particular page) while seated goes straight to the room.
      if (seat && ['/', '/login', '/register'].includes(location.pathname)) history.replaceState(null, '', home(seat));
    } catch (e) {
      if (!e.fatal) console.error(e);
      app.me = null;
    }
  }
  loadTopics();
  render();
}

boot();
