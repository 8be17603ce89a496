// The room settings form (SPEC §2.2), used when creating a room and by the host in the room.

import { t } from '../i18n.js';
import { h } from '../dom.js';

/** Every setting: key, kind, range or choices, default. */
export const SETTINGS = [
  { key: 'maxPlayers', kind: 'number', min: 3, max: 15, def: 8 },
  { key: 'mode', kind: 'choice', choices: ['classic', 'fool'], def: 'classic' },
  { key: 'hintRounds', kind: 'number', min: 1, max: 3, def: 2 },
  { key: 'hintSeconds', kind: 'number', min: 10, max: 120, def: 30 },
  { key: 'discussionSeconds', kind: 'number', min: 0, max: 300, def: 60 },
  { key: 'voteSeconds', kind: 'number', min: 10, max: 120, def: 30 },
  { key: 'defenseSeconds', kind: 'number', min: 0, max: 120, def: 30 },
  { key: 'guessSeconds', kind: 'number', min: 10, max: 120, def: 30 },
  { key: 'tiePolicy', kind: 'choice', choices: ['liar_wins', 'revote'], def: 'liar_wins' },
  { key: 'onHostLeave', kind: 'choice', choices: ['close', 'migrate'], def: 'close' },
  { key: 'topicId', kind: 'topic', def: 'random' },
  { key: 'language', kind: 'choice', choices: ['ko', 'en'], def: 'ko' },
];

function choiceLabel(s, v, topics) {
  if (s.kind === 'topic') {
    if (v === 'random') return t('set.topic.random');
    const topic = topics.find((x) => x.id === v);
    return topic ? topic.name[document.documentElement.lang] ?? topic.name.en : v;
  }
  return t(`set.${s.key}.${v}`);
}

/**
 * The controls, one labelled field per setting. `onChange(key, value)` fires for a changed
 * control (the host's room form sends each change at once).
 */
export function settingsFields({ prefix, topics = [], values = {}, editable = true, onChange }) {
  return SETTINGS.map((s) => {
    const id = `${prefix}-${s.key}`;
    const value = values[s.key] ?? s.def;
    let control;
    if (s.kind === 'number') {
      control = h('input', { type: 'number', inputmode: 'numeric', min: s.min, max: s.max, step: 1, value: String(value), disabled: !editable });
    } else {
      const choices = s.kind === 'topic' ? ['random', ...topics.map((x) => x.id)] : s.choices;
      control = h(
        'select',
        { disabled: !editable },
        choices.map((v) => h('option', { value: v, selected: v === value }, choiceLabel(s, v, topics))),
      );
    }
    control.id = id;
    control.dataset.testid = `setting-${s.key}`;
    control.dataset.key = s.key;
    if (onChange) {
      control.addEventListener('change', () => {
        const v = readOne(s, control);
        if (v !== undefined) onChange(s.key, v);
      });
    }
    return h(
      'div',
      { class: 'field field-compact' },
      h('label', { for: id }, t(`set.${s.key}`)),
      control,
      s.kind === 'number' ? h('p', { class: 'field-hint' }, t('set.range', { min: s.min, max: s.max })) : null,
      h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' }),
    );
  });
}

function readOne(s, control) {
  if (s.kind === 'number') {
    const n = Number(control.value);
    return Number.isFinite(n) && control.value !== '' ? Math.round(n) : undefined;
  }
  return control.value;
}

/** The settings as the form shows them. */
export function readSettings(root, prefix) {
  const out = {};
  for (const s of SETTINGS) {
    const control = root.querySelector(`#${prefix}-${s.key}`);
    if (!control) continue;
    const v = readOne(s, control);
    if (v !== undefined) out[s.key] = v;
  }
  return out;
}

/** Brings the form up to date with `values`, leaving the control being edited alone. */
export function syncSettings(root, prefix, values, editable) {
  for (const s of SETTINGS) {
    const control = root.querySelector(`#${prefix}-${s.key}`);
    if (!control) continue;
    control.disabled = !editable;
    if (document.activeElement === control) continue;
    const v = values[s.key];
    if (v !== undefined && String(control.value) !== String(v)) control.value = String(v);
  }
}
