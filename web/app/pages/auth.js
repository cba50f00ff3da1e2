// Sign in and register. Both end signed in, back where the user was going (?next=).
import { api, setSession, takeFlash } from '/static/api.js';
import { h, fill, showError, setTitle } from '/static/ui.js';

export const login = (ctx) => form(ctx, false);
export const register = (ctx) => form(ctx, true);

function form({ view, query, signal }, isRegister) {
  const kind = isRegister ? 'register' : 'login';
  setTitle(isRegister ? 'Register' : 'Sign in');
  const next = safeNext(query.get('next'));
  const qs = next !== '/' ? '?next=' + encodeURIComponent(next) : '';
  const notice = takeFlash();
  const error = h('div', { class: 'error', role: 'alert', id: 'form-error', 'data-testid': 'form-error', hidden: true });
  const user = h('input', { name: 'username', id: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', id: 'password', type: 'password', required: true, autocomplete: isRegister ? 'new-password' : 'current-password' });
  const submit = h('button', { type: 'submit', class: 'primary wide', id: `${kind}-submit` }, isRegister ? 'Create account' : 'Sign in');
  const f = h('form', { class: 'auth', id: `${kind}-form`, 'data-testid': `${kind}-form`, novalidate: true },
    h('label', { for: 'username' }, 'Username'), user,
    h('label', { for: 'password' }, 'Password'), pass,
    error, submit);
  f.onsubmit = async (e) => {
    e.preventDefault();
    error.hidden = true;
    const username = user.value.trim();
    if (!username || !pass.value) {
      showError(error, 'Enter a username and a password.');
      return;
    }
    submit.disabled = true;
    try {
      if (isRegister) {
        await api('/auth/register', { method: 'POST', body: { username, password: pass.value }, signal });
      }
      const res = await api('/auth/login', { method: 'POST', body: { username, password: pass.value }, signal });
      setSession(res.token, username);
      location.hash = '#' + next;
    } catch (err) {
      if (err.name === 'AbortError') return;
      submit.disabled = false;
      showError(error, explain(err, isRegister));
    }
  };
  fill(view,
    h('h1', null, isRegister ? 'Create an account' : 'Sign in'),
    notice ? h('p', { class: 'notice', role: 'status', id: 'session-message', 'data-testid': 'session-message' }, notice) : null,
    f,
    h('p', { class: 'muted' }, isRegister
      ? ['Already have an account? ', h('a', { href: '#/login' + qs, id: 'to-login' }, 'Sign in')]
      : ['New here? ', h('a', { href: '#/register' + qs, id: 'to-register' }, 'Create an account')]));
  user.focus();
}

function explain(err, isRegister) {
  if (err.code === 'invalid_credentials') return 'Wrong username or password.';
  if (err.code === 'conflict' && isRegister) return 'That username is taken: choose another.';
  return err.message;
}

// safeNext keeps ?next= to a route of this app.
function safeNext(n) {
  return n && n.startsWith('/') && !n.startsWith('//') ? n : '/';
}
