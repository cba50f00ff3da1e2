// Notifications: payments, refunds, grades, answers, points.
import { api, signedIn } from '/static/api.js';
import { h, fill, when, errorBox, setTitle } from '/static/ui.js';

const KIND = { payment: 'Payment', refund: 'Refund', order: 'Order', grade: 'Grade', answer: 'Answer', points: 'Points', question: 'Question' };

export async function list({ view, signal }) {
  setTitle('Notifications');
  if (!signedIn('Sign in to see your notifications.')) return;
  const items = h('ul', { class: 'list notices', id: 'notifications', 'data-testid': 'notification-list' });
  const more = h('div');
  const msg = h('div');
  const readAll = h('button', { type: 'button', id: 'read-all' }, 'Mark all as read');
  readAll.onclick = async () => {
    readAll.disabled = true;
    try {
      await api('/notifications/read-all', { method: 'POST', signal });
      for (const li of items.querySelectorAll('.unread')) li.classList.remove('unread');
      dispatchEvent(new Event('luffy:unread'));
    } catch (err) {
      if (err.name !== 'AbortError') fill(msg, errorBox(err, 'notification-error'));
    } finally {
      readAll.disabled = false;
    }
  };
  const page = async (cursor) => {
    const res = await api('/notifications?limit=30' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''), { signal });
    items.append(...res.items.map(item));
    if (!items.children.length) items.append(h('li', { class: 'muted', id: 'no-notifications' }, 'Nothing yet.'));
    more.replaceChildren();
    if (res.next_cursor) {
      const b = h('button', { type: 'button', class: 'wide' }, 'Older');
      b.onclick = () => { b.disabled = true; page(res.next_cursor).catch((err) => fill(more, errorBox(err))); };
      more.append(b);
    }
    return res;
  };
  fill(view, h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Notifications'), readAll), msg, items, more);
  const first = await page('');
  readAll.hidden = !first.unread;
}

function item(n) {
  const link = target(n);
  const title = link ? h('a', { href: link, onclick: () => read(n) }, n.title) : h('b', null, n.title);
  return h('li', { class: n.read_at ? '' : 'unread', 'data-testid': 'notification', 'data-kind': n.kind, 'data-id': n.id },
    h('div', { class: 'grow' },
      h('div', null, h('span', { class: 'tag' }, KIND[n.kind] || n.kind), ' ', title),
      n.body ? h('div', null, n.body) : null,
      h('div', { class: 'muted small' }, when(n.created_at))));
}

// read marks a notice read as the user follows its link; the page it opens does not wait.
function read(n) {
  if (n.read_at) return;
  api(`/notifications/${n.id}/read`, { method: 'POST' }).then(() => dispatchEvent(new Event('luffy:unread')), () => {});
}

// target links a notice to what it is about, when its data says.
function target(n) {
  const d = n.data || {};
  if (d.order_id) return `#/orders/${d.order_id}`;
  if (d.homework_id) return `#/homework/${d.homework_id}`;
  if (d.course_id && d.lesson_id) return `#/courses/${d.course_id}/lessons/${d.lesson_id}`;
  return '';
}
