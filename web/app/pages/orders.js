// Orders: the list, and one order, which the payment gateway returns the buyer to and
// which waits for the gateway's callback to mark it paid.
import { api, signedIn } from '/static/api.js';
import { h, fill, yuan, when, errorBox, setTitle, sleep } from '/static/ui.js';
import { payURL } from '/static/pages/cart.js';

const STATUS = {
  pending: 'Waiting for payment', paid: 'Paid', cancelled: 'Cancelled', expired: 'Expired', refunded: 'Refunded',
};

export async function orders({ view, signal }) {
  setTitle('Orders');
  if (!signedIn('Sign in to see your orders.')) return;
  const res = await api('/orders?limit=50', { signal });
  fill(view, h('h1', null, 'Orders'),
    res.items.length
      ? h('ul', { class: 'list', id: 'orders' }, res.items.map((o) => h('li', { 'data-testid': 'order', 'data-order-id': o.id },
        h('div', { class: 'grow' }, h('a', { href: `#/orders/${o.id}` }, o.number),
          h('div', { class: 'muted small' }, o.lines.map((l) => l.course_title).join(', '), ' · ', when(o.created_at))),
        h('span', { class: `status s-${o.status}` }, STATUS[o.status] || o.status),
        h('span', { class: 'price' }, yuan(o.amount_fen)))))
      : h('p', { class: 'muted' }, 'No orders yet.'));
}

export async function order({ view, params, signal }) {
  setTitle('Order');
  if (!signedIn('Sign in to see your order.')) return;
  const id = params[0];
  const status = h('p', { id: 'order-status', 'data-testid': 'order-status', 'aria-live': 'polite' });
  const body = h('div');
  fill(view, h('h1', null, 'Order'), status, body);
  // The gateway redirects here as it sends its callback, so the order may still be
  // pending for a moment: poll, a little slower each time, for up to two minutes.
  const started = Date.now();
  let delay = 500;
  for (;;) {
    let o;
    try {
      o = await api(`/orders/${id}`, { signal });
    } catch (err) {
      // a dropped connection or a busy server is no reason to stop waiting
      if (err.name === 'AbortError' || (err.status && err.status < 500)) throw err;
      fill(body, errorBox(err, 'order-error'));
      await sleep(delay = Math.min(delay * 2, 5000), signal);
      continue;
    }
    render(o, status, body, signal);
    if (o.status !== 'pending') return;
    if (Date.now() - started > 120000) {
      status.append(' ', h('span', { class: 'muted' }, '(Still waiting for the payment to be confirmed: reload in a while.)'));
      return;
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 1.5, 5000);
  }
}

function render(o, status, body, signal) {
  status.dataset.status = o.status;
  status.className = `status s-${o.status}`;
  status.textContent = o.status === 'pending' ? 'Not paid yet: waiting for the payment…' : (STATUS[o.status] || o.status);
  const lines = h('ul', { class: 'list' }, o.lines.map((l) => h('li', { 'data-testid': 'order-line' },
    h('div', { class: 'grow' }, o.status === 'paid'
      ? h('a', { href: `#/courses/${l.course_id}`, 'data-testid': 'paid-course' }, l.course_title)
      : l.course_title, h('div', { class: 'muted small' }, l.policy_title)),
    h('span', { class: 'price' }, yuan(l.list_price_fen)))));
  const rows = [
    ['Number', o.number], ['Total', yuan(o.total_fen)],
    o.coupon_discount_fen ? ['Coupon', '−' + yuan(o.coupon_discount_fen)] : null,
    o.points_fen ? ['Points', '−' + yuan(o.points_fen)] : null,
    ['Amount', yuan(o.amount_fen)], ['Placed', when(o.created_at)],
    o.paid_at ? ['Paid', when(o.paid_at)] : null,
  ].filter(Boolean);
  let pay = null;
  if (o.status === 'pending' && o.pay_url) {
    const cancel = h('button', { type: 'button', id: 'cancel-order' }, 'Cancel order');
    const err = h('div');
    cancel.onclick = async () => {
      cancel.disabled = true;
      try {
        render(await api(`/orders/${o.id}/cancel`, { method: 'POST', signal }), status, body, signal);
      } catch (e) {
        cancel.disabled = false;
        if (e.name !== 'AbortError') fill(err, errorBox(e, 'order-error'));
      }
    };
    pay = h('div', null, h('p', { class: 'actions' }, h('a', { class: 'button primary', id: 'pay-again', href: payURL(o) }, 'Pay now'), cancel),
      h('p', { class: 'muted small' }, 'Pay before ', when(o.expires_at)), err);
  }
  const next = o.status === 'paid'
    ? h('p', { class: 'ok', id: 'order-paid' }, 'Payment received. ',
      o.lines.length === 1 ? h('a', { href: `#/courses/${o.lines[0].course_id}`, id: 'start-learning' }, 'Start learning') : h('a', { href: '#/my', id: 'start-learning' }, 'Go to my courses'))
    : null;
  fill(body, next || '', lines, h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])), pay || '');
}
