// Tiny DOM helpers. Every text goes in through textContent (never innerHTML), so nothing a
// player types can become markup.

/**
 * Creates an element: h('button', {class: 'x', onclick: fn, 'data-testid': 'y'}, 'text', child).
 * Attribute values of `false`/`null`/`undefined` are left out; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `document.querySelector` under a root. */
export const $ = (sel, root = document) => root.querySelector(sel);

/** Remaining whole seconds until an RFC 3339 deadline (never negative). */
export function secondsLeft(deadline) {
  if (!deadline) return null;
  const ms = Date.parse(deadline) - Date.now();
  return Math.max(0, Math.ceil(ms / 1000));
}

/**
 * A countdown element: a <span> whose text is kept up to date by the global ticker in app.js
 * (`tickCountdowns`). The total lets it draw a shrinking bar.
 */
export function countdown(deadline, totalSeconds, attrs = {}) {
  const el = h('span', { class: 'countdown', 'data-deadline': deadline ?? '', 'data-total': totalSeconds ?? '', role: 'timer', ...attrs });
  updateCountdown(el);
  return el;
}

export function updateCountdown(el) {
  const left = secondsLeft(el.dataset.deadline);
  if (left === null) {
    el.textContent = '';
    return;
  }
  const text = left >= 60 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}` : `${left}`;
  if (el.textContent !== text) el.textContent = text;
  const total = Number(el.dataset.total);
  el.classList.toggle('urgent', left <= urgentBelow(total));
  if (total > 0) el.style.setProperty('--left', String(Math.min(1, left / total)));
}

/**
 * A countdown turns urgent in its last seconds only: the last 5, or the last 40 % of a short
 * one (a 5-second card viewing is urgent for its last 2 seconds, not from the start).
 */
export function urgentBelow(totalSeconds) {
  if (!(totalSeconds > 0)) return 5;
  return Math.max(1, Math.min(5, Math.round(totalSeconds * 0.4)));
}

export function tickCountdowns() {
  for (const el of document.querySelectorAll('.countdown[data-deadline]')) updateCountdown(el);
}

/** A labelled form field: label + control + error slot (aria-describedby wired). */
export function field({ id, label, control, hint, testid }) {
  const err = h('p', { class: 'field-error', id: `${id}-error`, 'data-testid': testid ? `${testid}-error` : null, role: 'alert' });
  control.id = id;
  control.setAttribute('aria-describedby', `${id}-error`);
  if (testid && !control.dataset.testid) control.dataset.testid = testid;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('p', { class: 'field-hint' }, hint) : null, err);
}

/** Shows (or clears, with '') a field's error text and marks the control invalid. */
export function setFieldError(form, id, text) {
  const control = form.querySelector(`#${id}`);
  const err = form.querySelector(`#${id}-error`);
  if (err) err.textContent = text || '';
  if (control) {
    if (text) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }
}

/**
 * Asks a yes/no question in a modal dialog; resolves true when confirmed. Escape and the cancel
 * button answer no.
 */
export function confirmDialog({ title, text, ok, cancel }) {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, text),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'confirm-no', onclick: () => dialog.close('no') }, cancel),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'confirm-yes', onclick: () => dialog.close('yes') }, ok),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Length in characters (code points), as the server counts it. */
export function charCount(text) {
  return [...text].length;
}
