// The judge: the problem list, and a problem with a code editor and live verdicts.
import { api, token, toLogin, failure, ApiError } from '/static/api.js';
import { h, fill, errorBox, showError, setTitle, sleep } from '/static/ui.js';
import { markdown } from '/static/pages/markdown.js';

export async function list({ view, signal }) {
  setTitle('Problems');
  const res = await api('/problems?limit=100', { signal });
  fill(view, h('h1', null, 'Problems'),
    h('ul', { class: 'list', id: 'problems', 'data-testid': 'problem-list' }, res.items.map((p) => h('li', { 'data-testid': 'problem', 'data-slug': p.slug },
      h('div', { class: 'grow' }, h('a', { href: `#/problems/${p.slug}` }, p.title),
        h('div', { class: 'muted small' }, (p.tags || []).join(' · '))),
      h('span', { class: 'muted small' }, `${p.time_limit_ms} ms · ${p.memory_limit_mb} MB`)))));
}

const LANGS = [
  ['python3', 'Python 3', 'a, b = map(int, input().split())\n'],
  ['cpp17', 'C++17', '#include <bits/stdc++.h>\nusing namespace std;\n\nint main() {\n    \n    return 0;\n}\n'],
  ['c', 'C', '#include <stdio.h>\n\nint main(void) {\n    \n    return 0;\n}\n'],
  ['java17', 'Java 17 (class Main)', 'import java.util.*;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        \n    }\n}\n'],
  ['go', 'Go', 'package main\n\nimport "fmt"\n\nfunc main() {\n    var a, b int\n    fmt.Scan(&a, &b)\n}\n'],
  ['javascript', 'JavaScript (Node.js)', "const input = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/);\n"],
];
const TEMPLATE = Object.fromEntries(LANGS.map(([k, , t]) => [k, t]));

const VERDICT = {
  AC: 'Accepted', WA: 'Wrong answer', PE: 'Presentation error', TLE: 'Time limit exceeded',
  MLE: 'Memory limit exceeded', OLE: 'Output limit exceeded', RE: 'Runtime error', CE: 'Compile error',
  IE: 'Internal error (not your fault: try again)', SKIP: 'Skipped',
};

function draftKey(slug, lang) { return `luffy.draft.${slug}.${lang}`; }
function loadDraft(slug, lang) { try { return localStorage.getItem(draftKey(slug, lang)); } catch { return null; } }
function saveDraft(slug, lang, src) { try { localStorage.setItem(draftKey(slug, lang), src); } catch { /* no storage */ } }

export async function problem({ view, params, signal }) {
  const slug = params[0];
  const p = await api(`/problems/${encodeURIComponent(slug)}`, { signal });
  setTitle(p.title);
  let lang = localStorage.getItem('luffy.lang') || 'python3';
  if (!TEMPLATE[lang]) lang = 'python3';
  const select = h('select', { id: 'language', name: 'language', 'data-testid': 'language' },
    LANGS.map(([k, label]) => h('option', { value: k }, label)));
  select.value = lang;
  const editor = h('textarea', {
    id: 'editor', 'data-testid': 'code-editor', class: 'code', spellcheck: 'false', autocapitalize: 'none',
    autocomplete: 'off', wrap: 'off', rows: 14, 'aria-label': 'Source code (Tab indents; Esc then Tab leaves the editor)',
  });
  editor.value = loadDraft(slug, lang) ?? TEMPLATE[lang];
  tabIndents(editor);
  editor.addEventListener('input', () => saveDraft(slug, lang, editor.value));
  select.onchange = () => {
    saveDraft(slug, lang, editor.value);
    lang = select.value;
    try { localStorage.setItem('luffy.lang', lang); } catch { /* no storage */ }
    editor.value = loadDraft(slug, lang) ?? TEMPLATE[lang];
  };
  const submitError = h('div', { class: 'error', role: 'alert', id: 'submit-error', 'data-testid': 'submit-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'submit', 'data-testid': 'submit-button' }, 'Submit');
  const result = h('section', { id: 'result', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack', id: 'submit-form' },
    h('div', { class: 'row' }, h('label', { for: 'language' }, 'Language'), select), editor, submitError, submit);
  let watching = null;
  form.onsubmit = async (e) => {
    e.preventDefault();
    submitError.hidden = true;
    if (!token()) {
      saveDraft(slug, lang, editor.value);
      toLogin('Sign in to submit your solution.');
      return;
    }
    if (!editor.value.trim()) {
      showError(submitError, 'Write your program first.');
      return;
    }
    submit.disabled = true;
    if (watching) watching.abort();
    result.replaceChildren();
    try {
      const sub = await api('/submissions', { method: 'POST', body: { problem: p.slug, language: lang, source: editor.value }, signal });
      const w = new AbortController();
      watching = w;
      signal.addEventListener('abort', () => w.abort(), { once: true });
      show(result, sub);
      follow(sub.id, (s) => show(result, s), w.signal)
        .catch((err) => { if (err.name !== 'AbortError') result.append(errorBox(err, 'verdict-error')); })
        .finally(() => { if (watching === w) submit.disabled = false; });
    } catch (err) {
      submit.disabled = false;
      if (err.name === 'AbortError') return;
      showError(submitError, err.message);
    }
  };

  const meta = `Time limit ${p.time_limit_ms} ms · memory ${p.memory_limit_mb} MB · ${p.test_count} tests`;
  fill(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/problems' }, 'Problems')),
    h('h1', { id: 'problem-title' }, p.title),
    h('p', { class: 'muted small' }, meta),
    h('article', { class: 'statement', id: 'statement' }, markdown(p.statement || '')),
    (p.samples || []).length ? h('div', { class: 'samples' }, p.samples.map((s) => h('div', { class: 'sample' },
      h('h4', null, s.name), h('div', { class: 'io' },
        h('div', null, h('div', { class: 'muted small' }, 'Input'), h('pre', null, s.input)),
        h('div', null, h('div', { class: 'muted small' }, 'Output'), h('pre', null, s.answer)))))) : null,
    form, result);
}

// tabIndents makes Tab insert four spaces (indenting every selected line when the
// selection spans lines) and Shift+Tab remove them; Esc hands Tab back to the page, so
// keyboard users can leave the editor.
function tabIndents(ta) {
  let escaped = false;
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { escaped = true; return; }
    if (e.key !== 'Tab' || escaped || e.ctrlKey || e.altKey || e.metaKey) { escaped = false; return; }
    e.preventDefault();
    const { selectionStart: a, selectionEnd: b, value: v } = ta;
    const multi = v.slice(a, b).includes('\n');
    if (!multi && !e.shiftKey) {
      insert(ta, a, b, '    ');
      return;
    }
    const start = v.lastIndexOf('\n', a - 1) + 1;
    const lines = v.slice(start, b).split('\n');
    const out = lines.map((l) => (e.shiftKey ? l.replace(/^ {1,4}|^\t/, '') : '    ' + l)).join('\n');
    insert(ta, start, b, out);
    ta.setSelectionRange(start, start + out.length);
  });
  ta.addEventListener('blur', () => { escaped = false; });
}

// insert replaces [a, b) with text, through the editing commands where the browser
// has them, so that undo works.
function insert(ta, a, b, text) {
  ta.setSelectionRange(a, b);
  if (!(document.execCommand && document.execCommand('insertText', false, text))) {
    ta.setRangeText(text, a, b, 'end');
    ta.dispatchEvent(new Event('input'));
  }
}

// show draws a submission: the verdict (its element keeps a stable id and carries the
// code in data-verdict), the compiler's message for CE, and the tests.
function show(box, s) {
  const done = s.status === 'done';
  const v = s.verdict || '';
  let text;
  if (!done) {
    text = s.status === 'queued' ? 'Queued…' : `Judging… ${s.tests_done || 0}/${s.test_count || '?'} tests`;
  } else {
    text = `${VERDICT[v] || v} (${v})`;
  }
  const verdict = h('div', {
    id: 'verdict', 'data-testid': 'verdict', 'data-status': s.status, 'data-verdict': done ? v : '',
    'data-submission-id': s.id, class: `verdict ${done ? (v === 'AC' ? 'v-ok' : 'v-bad') : 'v-wait'}`,
  }, text);
  const facts = done && v !== 'CE'
    ? h('p', { class: 'muted small' }, `Score ${s.score} · ${s.time_ms} ms · ${Math.round(s.memory_kb / 1024)} MB`) : null;
  const ce = s.compile_output ? h('pre', { class: 'compile', id: 'compile-output', 'data-testid': 'compile-output' }, s.compile_output) : null;
  const msg = s.message ? h('p', { class: 'muted', id: 'verdict-message' }, s.message) : null;
  const tests = v !== 'CE' && Array.isArray(s.tests) && s.tests.length ? h('table', { class: 'tests', id: 'tests' },
    h('thead', null, h('tr', null, h('th', null, 'Test'), h('th', null, 'Verdict'), h('th', null, 'Time'), h('th', null, 'Memory'))),
    h('tbody', null, s.tests.map((t) => [
      h('tr', { class: t.verdict === 'AC' ? 'v-ok' : (t.verdict ? 'v-bad' : '') },
        h('td', null, t.name), h('td', null, t.verdict || (done ? 'not run' : '…')), h('td', null, t.verdict ? `${t.time_ms} ms` : ''),
        h('td', null, t.verdict ? `${Math.round(t.memory_kb / 1024)} MB` : '')),
      t.diff ? h('tr', { class: 'diff' }, h('td', { colspan: 4 },
        `Line ${t.diff.line}: expected `, h('code', null, t.diff.expected), t.diff.missing ? ', but the output ended' : [', got ', h('code', null, t.diff.got)])) : null,
    ]))) : null;
  fill(box, verdict, facts || '', msg || '', ce || '', tests || '');
}

// follow reads the submission's server-sent events until "done". The stream needs the
// Authorization header, which EventSource cannot send, so it is read with fetch; if it
// breaks (or never opens), polling takes over.
async function follow(id, update, signal) {
  try {
    const final = await stream(id, update, signal);
    if (final) return final;
  } catch (err) {
    if (err.name === 'AbortError' || err.status === 401) throw err;
  }
  return poll(id, update, signal);
}

async function stream(id, update, signal) {
  let res;
  const tok = token();
  try {
    res = await fetch(`/api/v1/submissions/${id}/events`, {
      headers: { ...(tok ? { Authorization: 'Bearer ' + tok } : {}), Accept: 'text/event-stream' }, signal, cache: 'no-store',
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    return null;
  }
  if (!res.ok || !res.body) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    throw failure(res, data, tok);
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let event = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buf += dec.decode(value, { stream: true });
      for (;;) {
        const m = /\r\n|\n|\r/.exec(buf);
        // a '\r' at the very end may be the first half of '\r\n': wait for the next chunk
        if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          if (data.length) {
            const s = JSON.parse(data.join('\n'));
            update(s);
            if (event === 'done' || s.status === 'done') return s;
          }
          event = '';
          data = [];
        } else if (line[0] !== ':') {
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

async function poll(id, update, signal) {
  let delay = 1000;
  const started = Date.now();
  for (;;) {
    try {
      const s = await api(`/submissions/${id}`, { signal });
      update(s);
      if (s.status === 'done') return s;
    } catch (err) {
      if (err.name === 'AbortError' || !(err.status === 0 || err.status >= 500)) throw err;
    }
    if (Date.now() - started > 5 * 60 * 1000) {
      throw new ApiError(0, 'timeout', 'The judge has not finished after five minutes. Reload the page later to see the verdict.');
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 1.5, 4000);
  }
}
