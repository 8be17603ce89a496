// The i18n tables (no browser needed): Korean and English have the same keys, every key the
// client names exists, and every code the protocol and the REST API document has a text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The module reads the browser's language at load: give it a minimal browser.
globalThis.localStorage = { getItem: () => null, setItem: () => {} };
globalThis.navigator ??= { languages: ['en-US'] };
globalThis.document = { documentElement: { lang: '' } };
const { tables } = await import(join(root, 'web/js/i18n.js'));

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.js') ? [p] : [];
  });
}

test('Korean and English have the same keys', () => {
  const en = Object.keys(tables.en).sort();
  const ko = Object.keys(tables.ko).sort();
  assert.deepEqual(en.filter((k) => !ko.includes(k)), [], 'missing in Korean');
  assert.deepEqual(ko.filter((k) => !en.includes(k)), [], 'missing in English');
});

test('every key the client names exists', () => {
  const missing = [];
  for (const f of files(join(root, 'web/js'))) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) {
      if (!(m[1] in tables.en)) missing.push(`${f.slice(root.length + 1)}: ${m[1]}`);
    }
    // Counted texts: tn('key', n) needs at least `key.other` (and English `key.one`).
    for (const m of src.matchAll(/\btn\('([a-zA-Z0-9_.]+)'/g)) {
      for (const form of ['one', 'other']) {
        if (!(`${m[1]}.${form}` in tables.en)) missing.push(`${f.slice(root.length + 1)}: ${m[1]}.${form}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

test('every documented error code, phase, reason and level has a text', () => {
  const docs = ['docs/protocol.md', 'docs/operations.md'].map((d) => readFileSync(join(root, d), 'utf8')).join('\n');
  // Error codes: the tables of codes in both documents.
  const codes = new Set();
  for (const line of docs.split('\n')) {
    if (!/codes?\b/i.test(line) && !line.startsWith('|') && !line.startsWith('`')) continue;
    for (const m of line.matchAll(/`([A-Z][A-Z_]{3,})`/g)) codes.add(m[1]);
  }
  assert.ok(codes.size > 40, `found the documented codes (${codes.size})`);
  // Codes of the STOMP codec and of connection refusals are not shown to players.
  const notShown = new Set(['NOT_CONNECTED', 'CONNECT_TIMEOUT', 'FRAME_TOO_LARGE', 'UNKNOWN_COMMAND', 'MALFORMED_HEADER', 'INVALID_ESCAPE', 'INVALID_UTF8', 'BAD_CONTENT_LENGTH', 'MISSING_NUL', 'TOO_MANY_HEADERS', 'HEADER_TOO_LONG', 'MISSING_HEADER', 'UNSUPPORTED', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'METHOD_NOT_ALLOWED', 'CONNECTED', 'ERROR', 'MESSAGE', 'RECEIPT', 'SEND', 'SUBSCRIBE', 'CONNECT', 'STOMP', 'BEGIN', 'COMMIT', 'ABORT', 'NACK', 'UNSUBSCRIBE', 'DISCONNECT', 'RUST_LOG', 'LIAR_TEST_DATABASE_URL']);
  const missing = [...codes].filter((c) => !notShown.has(c) && !(`err.${c}` in tables.en));
  assert.deepEqual(missing, [], 'error codes without a text');
  for (const ph of ['deal', 'hints', 'discussion', 'vote', 'defense', 'guess', 'result']) assert.ok(`game.phase.${ph}` in tables.en, ph);
  for (const r of ['host_left', 'deleted', 'empty']) assert.ok(`event.closed.${r}` in tables.en, r);
  for (const r of ['moved', 'timeout']) assert.ok(`event.left.${r}` in tables.en, r);
  for (const r of ['timeout', 'disconnected']) assert.ok(`game.skip.${r}` in tables.en, r);
  for (const l of ['BRONZE1', 'BRONZE2', 'SILVER1', 'SILVER2', 'GOLD1', 'GOLD2', 'PLATINUM', 'MASTER', 'LIAR']) assert.ok(`level.${l}` in tables.en, l);
  for (const w of ['liar', 'citizens']) assert.ok(`result.winner.${w}` in tables.en, w);
  // Why the side won (game.ended reason, docs/rules.md).
  const rules = readFileSync(join(root, 'docs/rules.md'), 'utf8');
  const reasons = [...rules.matchAll(/^\| `([a-z_]+)` \| (liar|citizens) \|/gm)].map((m) => m[1]);
  assert.deepEqual(reasons.sort(), ['guess_timeout', 'liar_guessed', 'liar_left', 'liar_missed', 'tie', 'wrong_accused']);
  for (const r of reasons) assert.ok(`result.reason.${r}` in tables.en, r);
  for (const m of ['classic', 'fool']) assert.ok(`mode.${m}` in tables.en, m);
});

test('counted texts follow each language\'s plural rules', async () => {
  const { tn, setLang } = await import(join(root, 'web/js/i18n.js'));
  setLang('en');
  assert.equal(tn('game.voteCount', 1), '1 vote');
  assert.equal(tn('game.voteCount', 2), '2 votes');
  assert.equal(tn('history.players', 1), '1 player');
  setLang('ko');
  assert.equal(tn('game.voteCount', 1), '1표');
  assert.equal(tn('game.voteCount', 3), '3표');
  assert.match(tables.ko['profile.next'], /\{n\} 경험치$/, 'the Korean profile says the unit');
  setLang('en');
});
