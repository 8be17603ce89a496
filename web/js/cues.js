// Sound cues and the reveal animation.
//
// Four moments get a short sound: your hint turn, you are accused, the vote opens, and the
// result. The sounds are synthesised with WebAudio (a few oscillator notes, nothing fetched).
// The player's choice (the header's sound toggle) is remembered in localStorage. Without a
// choice, sound is on, except under `prefers-reduced-motion` and in automated browsers (tests),
// which turn it on explicitly. The reveal animation (class `motion` on <html>, app.css) follows
// the same rule and is never shown under `prefers-reduced-motion`.

const SOUND_KEY = 'liar.sound';
const MOTION_KEY = 'liar.motion';
/** Loudness of a cue (0–1): audible next to speech, never startling. */
const VOLUME = 0.12;

/** Notes of each cue: [frequency in Hz, start in s, length in s]. */
const CUES = {
  turn: [[660, 0, 0.12], [880, 0.13, 0.18]],
  accused: [[440, 0, 0.18], [330, 0.2, 0.3]],
  vote: [[523, 0, 0.09], [523, 0.12, 0.09], [659, 0.24, 0.16]],
  win: [[523, 0, 0.12], [659, 0.12, 0.12], [784, 0.24, 0.25]],
  lose: [[392, 0, 0.15], [330, 0.16, 0.15], [262, 0.32, 0.3]],
};

const reducedMotion = () => window.matchMedia?.('(prefers-reduced-motion: reduce)').matches ?? false;
const automated = () => Boolean(navigator.webdriver);

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Whether sound cues play. */
export function soundOn() {
  const choice = stored(SOUND_KEY);
  if (choice === 'on' || choice === 'off') return choice === 'on';
  return !reducedMotion() && !automated();
}

/** The header's toggle: remembers the choice. */
export function setSound(on) {
  localStorage.setItem(SOUND_KEY, on ? 'on' : 'off');
  if (on) context()?.resume?.();
}

/** Whether the reveal animation runs. */
export function motionOn() {
  if (reducedMotion()) return false;
  const choice = stored(MOTION_KEY);
  if (choice === 'on' || choice === 'off') return choice === 'on';
  return !automated();
}

/** Sets the `motion` class on <html> (app.css animates only under it). */
export function applyMotion() {
  document.documentElement.classList.toggle('motion', motionOn());
}

let audio = null;
function context() {
  if (!audio) {
    const Ctx = window.AudioContext ?? window.webkitAudioContext;
    if (!Ctx) return null;
    audio = new Ctx();
  }
  return audio;
}

/** Plays cue `name` (when sound is on). Every cue played is listed in `window.__liarCues`. */
export function play(name) {
  const notes = CUES[name];
  if (!notes || !soundOn()) return;
  (window.__liarCues ??= []).push(name);
  const ctx = context();
  if (!ctx) return;
  if (ctx.state === 'suspended') ctx.resume?.();
  const t0 = ctx.currentTime + 0.02;
  for (const [freq, start, length] of notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'triangle';
    osc.frequency.value = freq;
    // A quick attack and a smooth release: no clicks.
    gain.gain.setValueAtTime(0, t0 + start);
    gain.gain.linearRampToValueAtTime(VOLUME, t0 + start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + start + length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0 + start);
    osc.stop(t0 + start + length + 0.02);
  }
}

/** The cue a room event calls for, if any. `myTurn`: a hint turn of this player just began. */
export function onRoomEvent(session, kind, { myTurn = false } = {}) {
  const g = session.game;
  if (myTurn) play('turn');
  else if (kind === 'vote.result' && g?.accused === session.me) play('accused');
  else if (kind === 'phase.changed' && g?.phase === 'vote') play('vote');
  else if (kind === 'game.ended') {
    const mine = session.result?.players?.find((p) => p.userId === session.me);
    play(mine?.won ? 'win' : 'lose');
  }
}

applyMotion();
window.matchMedia?.('(prefers-reduced-motion: reduce)').addEventListener?.('change', applyMotion);
