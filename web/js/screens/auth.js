// Log in and sign up. Field errors come from the server's VALIDATION problem (every bad field
// at once); a replaced session and rate limits are explained in words.

import * as api from '../api.js';
import { app, signedIn, home } from '../app.js';
import { t, tn, errorText, fieldText } from '../i18n.js';
import { h, field, setFieldError } from '../dom.js';

const NOTICES = {
  SESSION_REPLACED: 'auth.replaced',
  SESSION_REVOKED: 'auth.revoked',
  REFRESH_REUSED: 'auth.reused',
};

function notice() {
  const code = app.notice?.code;
  if (!code) return null;
  const key = NOTICES[code];
  return h(
    'div',
    { class: `notice ${code === 'SESSION_REPLACED' ? 'notice-warn' : ''}`, role: 'alert', 'data-testid': 'session-notice', 'data-code': code },
    key ? t(key) : errorText(code),
  );
}

function input(type, autocomplete) {
  return h('input', { type, autocomplete, required: true, spellcheck: 'false', autocapitalize: 'none' });
}

/** Shows a problem on a form: field errors next to fields, anything else above the button. */
function showError(form, e, fields) {
  for (const f of fields) setFieldError(form, `f-${f}`, '');
  const formError = form.querySelector('.form-error');
  formError.textContent = '';
  clearInterval(form.rateTimer);
  if (e.code === 'VALIDATION' && e.errors.length) {
    for (const fe of e.errors) {
      if (fields.includes(fe.field)) setFieldError(form, `f-${fe.field}`, fieldText(fe.field, fe.code));
    }
    const first = form.querySelector('[aria-invalid=true]');
    first?.focus();
    return;
  }
  if (e.code === 'EMAIL_TAKEN' && fields.includes('email')) {
    setFieldError(form, 'f-email', errorText(e.code));
    form.querySelector('#f-email').focus();
    return;
  }
  if (e.code === 'USERNAME_TAKEN' && fields.includes('username')) {
    setFieldError(form, 'f-username', errorText(e.code));
    form.querySelector('#f-username').focus();
    return;
  }
  if (e.code === 'RATE_LIMITED') {
    const button = form.querySelector('button[type=submit]');
    let left = Math.max(1, Math.ceil(e.retryAfter ?? 10));
    const tick = () => {
      if (left <= 0) {
        clearInterval(form.rateTimer);
        formError.textContent = t('auth.rateLimitedNow');
        button.disabled = false;
        return;
      }
      formError.textContent = tn('auth.rateLimited', left);
      left--;
    };
    formError.dataset.code = 'RATE_LIMITED';
    button.disabled = true;
    tick();
    form.rateTimer = setInterval(tick, 1000);
    return;
  }
  formError.dataset.code = e.code;
  formError.textContent = errorText(e.code);
}

function busy(form, on) {
  const b = form.querySelector('button[type=submit]');
  if (!b.disabled || !on) b.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

export function login(main) {
  const form = h(
    'form',
    { class: 'card auth-card', novalidate: true, 'data-testid': 'login-form' },
    h('h1', { tabindex: '-1' }, t('auth.login')),
    notice(),
    field({ id: 'f-email', label: t('auth.email'), control: input('email', 'username'), testid: 'login-email' }),
    field({ id: 'f-password', label: t('auth.password'), control: input('password', 'current-password'), testid: 'login-password' }),
    h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'login-submit' }, t('auth.login')),
    h('p', { class: 'switch' }, t('auth.noAccount'), ' ', h('a', { href: '/register', 'data-link': true, 'data-testid': 'to-register' }, t('auth.toRegister'))),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = form.querySelector('#f-email').value.trim();
    const password = form.querySelector('#f-password').value;
    busy(form, true);
    try {
      await api.login(email, password);
      app.notice = null;
      app.navigate(home(await signedIn()), { replace: true });
    } catch (e) {
      busy(form, false);
      showError(form, e, ['email', 'password']);
    }
  });
  main.append(h('section', { class: 'auth' }, hero(), form));
  return { destroy: () => clearInterval(form.rateTimer) };
}

export function register(main) {
  const form = h(
    'form',
    { class: 'card auth-card', novalidate: true, 'data-testid': 'register-form' },
    h('h1', { tabindex: '-1' }, t('auth.register')),
    field({ id: 'f-email', label: t('auth.email'), control: input('email', 'email'), testid: 'register-email' }),
    field({ id: 'f-username', label: t('auth.username'), control: input('text', 'nickname'), hint: t('auth.usernameHint'), testid: 'register-username' }),
    field({ id: 'f-password', label: t('auth.password'), control: input('password', 'new-password'), hint: t('auth.passwordHint'), testid: 'register-password' }),
    h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'register-submit' }, t('auth.register')),
    h('p', { class: 'switch' }, t('auth.haveAccount'), ' ', h('a', { href: '/login', 'data-link': true, 'data-testid': 'to-login' }, t('auth.toLogin'))),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = form.querySelector('#f-email').value.trim();
    const username = form.querySelector('#f-username').value.trim();
    const password = form.querySelector('#f-password').value;
    busy(form, true);
    try {
      await api.register(email, username, password);
    } catch (e) {
      busy(form, false);
      showError(form, e, ['email', 'username', 'password']);
      return;
    }
    try {
      app.toast(t('auth.registered'), 'info', { screen: true });
      await api.login(email, password);
      app.notice = null;
      app.navigate(home(await signedIn()), { replace: true });
    } catch (e) {
      // Registered, but the login was refused (e.g. rate limited): log in by hand.
      busy(form, false);
      app.navigate('/login');
      app.toast(errorText(e.code), 'error');
    }
  });
  main.append(h('section', { class: 'auth' }, hero(), form));
  return { destroy: () => clearInterval(form.rateTimer) };
}

function hero() {
  return h('div', { class: 'hero' }, h('div', { class: 'hero-mark', 'aria-hidden': 'true' }, '?'), h('p', { class: 'hero-title' }, t('app.name')), h('p', { class: 'hero-tag' }, t('app.tagline')));
}
