// Admins edit the topic catalog here instead of with curl: list topics, create one from a list
// of words, add and remove words, remove a topic. Every refusal of the API is shown with its
// own words (the code's text, and for VALIDATION each field's message as the server wrote it).

import * as api from '../api.js';
import { app } from '../app.js';
import { t, tn, lang, errorText } from '../i18n.js';
import { h, fill, confirmDialog } from '../dom.js';

/** The API's refusal, as a list of lines to show. */
function problemLines(e) {
  const lines = [errorText(e.code)];
  for (const fe of e.errors ?? []) lines.push(`${fe.field}: ${fe.message ?? fe.code}`);
  if (!e.errors?.length && e.message && e.code !== 'NETWORK') lines.push(e.message);
  return lines;
}

function showProblem(slot, e) {
  fill(slot, problemLines(e).map((line) => h('span', { class: 'problem-line' }, line, h('br'))));
}

/** "사자, Lion" per line → words; ids are made by the server from the English form. */
function parseWords(text) {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [ko, en = ''] = line.split(/\s*[,;\t]\s*/);
      const id = en.toLowerCase().trim().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
      return { id, ko, en };
    });
}

export function render(main) {
  const list = h('ul', { class: 'topic-list', 'data-testid': 'topic-list' });
  const status = h('p', { class: 'muted', role: 'status' });
  const editor = h('section', { class: 'card', 'data-testid': 'topic-editor', hidden: true });

  async function load() {
    status.textContent = t('common.loading');
    app.topics = null;
    try {
      const topics = await app.loadTopics();
      status.textContent = '';
      fill(list, topics.map(topicItem));
    } catch (e) {
      status.textContent = errorText(e.code);
    }
  }

  function topicItem(topic) {
    return h(
      'li',
      { class: 'topic-item', 'data-testid': 'topic-item', 'data-topic-id': topic.id },
      h('strong', {}, topic.name[lang()] ?? topic.name.en),
      ` (${topic.id}) · ${tn('admin.words', topic.wordCount)} `,
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'topic-edit', onclick: () => edit(topic.id) }, t('admin.edit')),
    );
  }

  async function edit(id) {
    editor.hidden = false;
    fill(editor, h('p', { class: 'muted' }, t('common.loading')));
    let topic;
    try {
      topic = await api.call('GET', `/api/topics/${encodeURIComponent(id)}`);
    } catch (e) {
      const slot = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'admin-error' });
      fill(editor, slot);
      showProblem(slot, e);
      return;
    }
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'admin-error' });
    const ko = h('input', { type: 'text', id: 'w-ko', 'data-testid': 'word-ko', autocomplete: 'off' });
    const en = h('input', { type: 'text', id: 'w-en', 'data-testid': 'word-en', autocomplete: 'off' });
    const add = h(
      'form',
      { class: 'stack', novalidate: true, 'data-testid': 'word-add-form' },
      h('div', { class: 'send-row' }, h('label', { for: 'w-ko', class: 'sr-only' }, t('set.language.ko')), ko, h('label', { for: 'w-en', class: 'sr-only' }, t('set.language.en')), en, h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'word-add' }, t('admin.addWord'))),
    );
    ko.placeholder = t('set.language.ko');
    en.placeholder = t('set.language.en');
    add.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      try {
        await api.call('POST', `/api/topics/${encodeURIComponent(id)}/words`, { ko: ko.value.trim(), en: en.value.trim() });
        await edit(id);
        load();
      } catch (e) {
        showProblem(error, e);
      }
    });
    const remove = async (wordId) => {
      error.textContent = '';
      try {
        await api.call('DELETE', `/api/topics/${encodeURIComponent(id)}/words/${encodeURIComponent(wordId)}`);
        await edit(id);
        load();
      } catch (e) {
        showProblem(error, e);
      }
    };
    const dropTopic = async () => {
      const ok = await confirmDialog({ title: t('admin.removeTopic'), text: t('admin.removeTopicConfirm', { name: topic.name[lang()] ?? topic.id }), ok: t('admin.removeTopic'), cancel: t('common.cancel') });
      if (!ok) return;
      try {
        await api.call('DELETE', `/api/topics/${encodeURIComponent(id)}`);
        editor.hidden = true;
        load();
      } catch (e) {
        showProblem(error, e);
      }
    };
    fill(
      editor,
      h('h2', {}, topic.name[lang()] ?? topic.id, ` (${topic.id})`),
      h(
        'ul',
        { class: 'topic-words', 'data-testid': 'topic-words' },
        topic.words.map((w) =>
          h('li', { 'data-testid': 'topic-word', 'data-word-id': w.id }, `${w.ko} · ${w.en}`, h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'word-remove', 'aria-label': `${t('admin.removeWord')}: ${w.en}`, onclick: () => remove(w.id) }, '✕')),
        ),
      ),
      add,
      error,
      h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'topic-remove', onclick: dropTopic }, t('admin.removeTopic')),
    );
  }

  // --- a new topic ---
  const createError = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'topic-create-error' });
  const input = (id, testid) => h('input', { type: 'text', id, 'data-testid': testid, autocomplete: 'off' });
  const createForm = h(
    'form',
    { class: 'stack', novalidate: true, 'data-testid': 'topic-create-form' },
    h('div', { class: 'field' }, h('label', { for: 't-id' }, t('admin.topicId')), input('t-id', 'topic-id'), h('p', { class: 'field-hint' }, t('admin.topicIdHint'))),
    h('div', { class: 'field' }, h('label', { for: 't-ko' }, t('admin.nameKo')), input('t-ko', 'topic-name-ko')),
    h('div', { class: 'field' }, h('label', { for: 't-en' }, t('admin.nameEn')), input('t-en', 'topic-name-en')),
    h('div', { class: 'field' }, h('label', { for: 't-words' }, t('admin.wordList')), h('textarea', { id: 't-words', rows: 8, 'data-testid': 'topic-words-input' }), h('p', { class: 'field-hint' }, t('admin.wordListHint'))),
    createError,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'topic-create' }, t('admin.createTopic')),
  );
  createForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createError.textContent = '';
    const id = createForm.querySelector('#t-id').value.trim();
    const body = {
      name: { ko: createForm.querySelector('#t-ko').value.trim(), en: createForm.querySelector('#t-en').value.trim() },
      words: parseWords(createForm.querySelector('#t-words').value),
      pairs: [],
    };
    if (!id) {
      createError.textContent = `${t('admin.topicId')}: ${t('field.REQUIRED')}`;
      return;
    }
    try {
      await api.call('PUT', `/api/topics/${encodeURIComponent(id)}`, body);
      createForm.reset();
      await load();
      edit(id);
    } catch (e) {
      showProblem(createError, e);
    }
  });

  main.append(
    h(
      'section',
      { class: 'page stack', 'data-testid': 'admin-topics' },
      h('h1', { tabindex: '-1' }, t('admin.title')),
      app.me?.admin ? null : h('p', { class: 'notice notice-info' }, t('err.NOT_ADMIN')),
      h('section', { class: 'card' }, h('h2', {}, t('admin.topics')), status, list),
      editor,
      h('section', { class: 'card' }, h('h2', {}, t('admin.newTopic')), createForm),
    ),
  );
  load();
  return {};
}
