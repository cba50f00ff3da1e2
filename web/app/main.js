// The shell: hash routes to page modules (loaded when first visited), the header, and
// the last line of defence against a blank page.
import { api, token, username, setSession, takeFlash, ApiError } from '/static/api.js';
import { h, fill, errorBox, loading, setTitle } from '/static/ui.js';

// Each route: a pattern over the path of the hash, the page module, its export, and the
// nav entry to highlight. Module paths are rewritten to fingerprinted URLs by the server.
const routes = [
  [/^\/$/, () => import('/static/pages/catalog.js'), 'catalog', 'catalog'],
  [/^\/c\/(\d+)$/, () => import('/static/pages/catalog.js'), 'catalog', 'catalog'],
  [/^\/courses\/(\d+)$/, () => import('/static/pages/course.js'), 'course', 'catalog'],
  [/^\/courses\/(\d+)\/lessons\/(\d+)$/, () => import('/static/pages/player.js'), 'player', 'my'],
  [/^\/courses\/(\d+)\/homework\/(\d+)$/, () => import('/static/pages/homework.js'), 'homework', 'homework'],
  [/^\/homework\/(\d+)$/, () => import('/static/pages/homework.js'), 'homeworkOnly', 'homework'],
  [/^\/login$/, () => import('/static/pages/auth.js'), 'login', 'login'],
  [/^\/register$/, () => import('/static/pages/auth.js'), 'register', 'login'],
  [/^\/cart$/, () => import('/static/pages/cart.js'), 'cart', 'cart'],
  [/^\/orders$/, () => import('/static/pages/orders.js'), 'orders', 'my'],
  [/^\/orders\/(\d+)$/, () => import('/static/pages/orders.js'), 'order', 'my'],
  [/^\/my$/, () => import('/static/pages/mine.js'), 'courses', 'my'],
  [/^\/my\/homework$/, () => import('/static/pages/mine.js'), 'homework', 'homework'],
  [/^\/problems$/, () => import('/static/pages/problems.js'), 'list', 'problems'],
  [/^\/problems\/([A-Za-z0-9_-]+)$/, () => import('/static/pages/problems.js'), 'problem', 'problems'],
  [/^\/notifications$/, () => import('/static/pages/notifications.js'), 'list', 'notifications'],
];

const app = document.getElementById('app');
let current = null; // the AbortController of the page on screen

async function route() {
  if (current) current.abort();
  const ctl = new AbortController();
  current = ctl;
  const raw = location.hash.slice(1) || '/';
  const [path, qs] = raw.split('?', 2);
  const query = new URLSearchParams(qs || '');
  const view = h('div', { class: 'view' }, loading());
  fill(app, view);
  window.scrollTo(0, 0);
  setTitle('');
  const found = routes.find(([re]) => re.test(path));
  markNav(found ? found[3] : '');
  if (!found) {
    fill(view, h('h1', null, 'Page not found'),
      h('p', null, 'There is nothing at this address. ', h('a', { href: '#/' }, 'Browse the courses'), '.'));
    return;
  }
  const [re, load, name] = found;
  let mod;
  try {
    mod = await load();
  } catch {
    // A page module that will not load: offline, or a deploy replaced it under an old
    // index. A reload fetches the new index.
    fill(view, errorBox('This page could not be loaded. Check your connection, then reload.'),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Reload'));
    return;
  }
  if (ctl.signal.aborted) return;
  try {
    await mod[name]({ view, params: path.match(re).slice(1), query, signal: ctl.signal });
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    if (ctl.signal.aborted) return;
    // A page's own record missing is an address that leads nowhere; the API's words for
    // it ("no such record") are not the user's.
    const msg = err instanceof ApiError && err.status === 404
      ? 'There is nothing at this address: what it showed may have been removed, or the link is wrong.' : err;
    fill(view, errorBox(msg), h('p', null, h('a', { href: '#/' }, 'Back to the courses')));
  }
}

function markNav(key) {
  for (const a of document.querySelectorAll('#nav [data-nav]')) {
    a.classList.toggle('on', a.dataset.nav === key);
  }
}

// The header shows who is signed in and how many notices are unread.
async function header() {
  const signed = !!token();
  const login = document.getElementById('nav-login');
  const logout = document.getElementById('nav-logout');
  login.hidden = signed;
  logout.hidden = !signed;
  logout.textContent = signed ? `Sign out (${username() || 'me'})` : 'Sign out';
  const badge = document.getElementById('unread');
  badge.hidden = true;
  if (!signed) return;
  try {
    const n = await api('/notifications?limit=1');
    badge.textContent = n.unread;
    badge.hidden = !n.unread;
  } catch { /* a 401 has already sent the user to sign in; the rest can wait */ }
}

document.getElementById('nav-logout').addEventListener('click', async () => {
  try { await api('/auth/logout', { method: 'POST' }); } catch { takeFlash(); /* signed out here all the same */ }
  setSession(null, null);
  location.hash = '#/';
});

// Whatever escapes a page is shown, not swallowed into a blank screen.
function banner(msg) {
  const b = document.getElementById('banner');
  b.textContent = msg;
  b.hidden = false;
  clearTimeout(banner.t);
  banner.t = setTimeout(() => { b.hidden = true; }, 8000);
}
addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  if (r && r.name === 'AbortError') return;
  banner(r instanceof ApiError ? r.message : 'Something went wrong: ' + (r && r.message ? r.message : r));
});
addEventListener('error', (e) => banner('Something went wrong: ' + e.message));
addEventListener('luffy:auth', header);
addEventListener('luffy:unread', header);
addEventListener('hashchange', route);

route();
header();
