// Small DOM helpers shared by the pages. Text always goes in as text nodes, never as
// HTML, so nothing the API returns can inject markup.

// h('a', {href: '#/', class: 'x', onclick: f}, 'text', child, [more]) builds an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

// fill replaces el's children, with the same rules as h: arrays flattened, null and
// false skipped.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// yuan formats integer fen as money.
export const yuan = (fen) => '¥' + (fen / 100).toFixed(2);

export function minutes(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// errorBox is the page's message for a failed action; the id lets tests find it.
export function errorBox(err, id = 'page-error') {
  return h('div', { class: 'error', role: 'alert', id, 'data-testid': id }, messageOf(err));
}

export function messageOf(err) {
  if (!err) return '';
  if (typeof err === 'string') return err;
  return err.message || 'Something went wrong. Try again.';
}

// showError replaces the content of box (an element that is on the page) with a message.
export function showError(box, err) {
  box.hidden = false;
  box.textContent = messageOf(err);
}

export const loading = () => h('p', { class: 'muted', 'data-testid': 'loading' }, 'Loading…');

// newKey is a random key, e.g. an Idempotency-Key; crypto.randomUUID needs a secure
// context, which a phone on the LAN's http:// address is not.
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function setTitle(t) {
  document.title = t ? `${t} · 路飞 Luffy` : '路飞学城 Luffy';
}

// busy disables a button while fn runs.
export async function busy(button, fn) {
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = false; }
}

// sleep waits ms, or rejects with an AbortError when signal aborts first.
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
  });
}
