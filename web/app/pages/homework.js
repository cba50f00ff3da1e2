// One homework: submit (text and optional files; each submission is a new version) and
// see every version with its grade.
import { api, download, signedIn } from '/static/api.js';
import { h, fill, when, showError, setTitle } from '/static/ui.js';

const STATUS = { submitted: 'Waiting for a tutor', graded: 'Graded' };

// homeworkOnly is the page reached from a notice: /homework/ID.
export const homeworkOnly = (ctx) => homework({ ...ctx, params: [null, ctx.params[0]] });

export async function homework({ view, params, signal }) {
  const [courseID, hwID] = params;
  if (!signedIn('Sign in to do your homework.')) return;
  const [subs, known] = await Promise.all([
    api(`/homework/${hwID}/submissions`, { signal }),
    courseID ? api(`/courses/${courseID}`, { signal }) : null,
  ]);
  // A link from a notice names only the homework; its versions name the course.
  const cid = subs.items[0] && subs.items[0].course_id;
  const c = known || (cid ? await api(`/courses/${cid}`, { signal }) : null);
  let title = `Homework ${hwID}`;
  for (const ch of (c && c.chapters) || []) for (const hw of ch.homework || []) if (String(hw.id) === hwID) title = hw.title;
  setTitle(title);

  const error = h('div', { class: 'error', role: 'alert', id: 'homework-error', 'data-testid': 'homework-error', hidden: true });
  const text = h('textarea', { id: 'homework-text', name: 'text', rows: 8, 'data-testid': 'homework-text', placeholder: 'Your answer, or notes on the files you attach' });
  const files = h('input', { type: 'file', id: 'homework-files', name: 'files', multiple: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'homework-submit', 'data-testid': 'homework-submit' }, 'Submit');
  const versions = h('div', { id: 'homework-versions', 'data-testid': 'homework-versions' });
  const form = h('form', { id: 'homework-form', 'data-testid': 'homework-form', class: 'stack' },
    h('label', { for: 'homework-text' }, subs.items.length ? 'Submit a new version' : 'Your answer'), text,
    h('label', { for: 'homework-files' }, 'Files (optional)'), files, error, submit);
  form.onsubmit = async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!text.value.trim() && !files.files.length) {
      showError(error, 'Write an answer or attach a file first.');
      return;
    }
    let body = { text: text.value };
    if (files.files.length) {
      body = new FormData();
      body.append('text', text.value);
      for (const f of files.files) body.append('files', f);
    }
    submit.disabled = true;
    try {
      await api(`/homework/${hwID}/submissions`, { method: 'POST', body, signal });
      text.value = '';
      files.value = '';
      const fresh = await api(`/homework/${hwID}/submissions`, { signal });
      renderVersions(versions, fresh.items);
    } catch (err) {
      if (err.name === 'AbortError') return;
      showError(error, err.code === 'forbidden' ? 'Homework is for students of this course: buy the course to submit.' : err.message);
    } finally {
      submit.disabled = false;
    }
  };
  fill(view,
    h('p', { class: 'crumbs' }, c ? [h('a', { href: `#/courses/${c.id}` }, c.title), ' › '] : null, h('a', { href: '#/my/homework' }, 'My homework')),
    h('h1', { id: 'homework-title' }, title), form, h('h2', null, 'My submissions'), versions);
  renderVersions(versions, subs.items);
}

function renderVersions(box, items) {
  if (!items.length) {
    fill(box, h('p', { class: 'muted' }, 'Nothing submitted yet.'));
    return;
  }
  fill(box, ...items.map((s) => h('article', { class: 'version', 'data-testid': 'homework-version', 'data-version': s.version, 'data-status': s.status },
    h('header', null, h('b', null, `Version ${s.version}`), ' · ', when(s.created_at), ' · ',
      h('span', { class: `status s-${s.status}` }, STATUS[s.status] || s.status)),
    s.text ? h('pre', { class: 'answer' }, s.text) : null,
    (s.files || []).length ? h('ul', { class: 'files' }, s.files.map((f) => h('li', null, fileLink(f)))) : null,
    s.score != null ? h('p', { class: 'grade', 'data-testid': 'homework-grade' }, h('b', null, `Score ${s.score}`),
      s.passed == null ? '' : (s.passed ? ' · passed' : ' · not passed'), s.graded_at ? ` · ${when(s.graded_at)}` : '') : null,
    s.comment ? h('p', { class: 'comment' }, s.comment) : null,
    (s.rubric || []).length ? h('ul', { class: 'rubric' }, s.rubric.map((r) => h('li', null, `${r.criterion}: ${r.points}/${r.max}`))) : null)));
}

// fileLink downloads a submitted file through the API; a failure is said next to it.
function fileLink(f) {
  const note = h('span', { class: 'error', role: 'alert' });
  const a = h('a', { href: '#', 'data-testid': 'homework-file', 'data-file-id': f.id }, `${f.name} (${Math.ceil(f.size / 1024)} KiB)`);
  a.addEventListener('click', async (ev) => {
    ev.preventDefault();
    note.textContent = '';
    try {
      await download(`/homework/files/${f.id}`, f.name);
    } catch (err) {
      note.textContent = ' ' + (err.message || err);
    }
  });
  return [a, note];
}
