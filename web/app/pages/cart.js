// The cart, and checkout through the payment gateway's hosted page.
import { api, signedIn } from '/static/api.js';
import { h, fill, yuan, errorBox, setTitle, newKey, loading } from '/static/ui.js';

// Checkout places an order and sends the browser to the gateway's pay page, which comes
// back to the order page when paid. One Idempotency-Key per attempt: a retry after a
// network failure sends the same key, so it cannot place a second order; a definite
// answer (an order, or a refusal) ends the attempt.
export class Checkout {
  constructor() { this.key = null; this.body = ''; }

  async run(body, signal) {
    const b = JSON.stringify(body);
    if (!this.key || b !== this.body) this.key = newKey(); // another order, another attempt
    this.body = b;
    let order;
    try {
      order = await api('/orders', { method: 'POST', body, headers: { 'Idempotency-Key': this.key }, signal });
    } catch (err) {
      if (err.status >= 400 && err.status < 500) this.key = null;
      throw err;
    }
    this.key = null;
    if (order.status === 'paid' || !order.pay_url) {
      location.hash = `#/orders/${order.id}`;
      return order;
    }
    location.assign(payURL(order));
    return order;
  }
}

// payURL is the gateway's pay page for order, returning to its order page when paid.
export function payURL(order) {
  const back = location.origin + '/#/orders/' + order.id;
  return order.pay_url + (order.pay_url.includes('?') ? '&' : '?') + 'return=' + encodeURIComponent(back);
}

export async function cart({ view, signal }) {
  setTitle('Cart');
  if (!signedIn('Sign in to see your cart.')) return;
  const res = await api('/cart', { signal });
  const items = res.items || [];
  fill(view, h('h1', null, 'Cart'));
  if (!items.length) {
    view.append(h('p', { class: 'muted', id: 'cart-empty' }, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the courses'), '.'));
    return;
  }
  const err = h('div');
  const list = h('ul', { class: 'list', id: 'cart-items', 'data-testid': 'cart-items' });
  let total = 0;
  for (const it of items) {
    if (it.available) total += it.price_fen;
    const remove = h('button', { type: 'button', class: 'link' }, 'Remove');
    remove.onclick = async () => {
      remove.disabled = true;
      try {
        await api(`/cart/items/${it.course_id}`, { method: 'DELETE', signal });
        dispatchEvent(new Event('hashchange'));
      } catch (e) {
        remove.disabled = false;
        fill(err, errorBox(e, 'cart-error'));
      }
    };
    list.append(h('li', { 'data-testid': 'cart-item', 'data-course-id': it.course_id },
      h('div', { class: 'grow' },
        h('a', { href: `#/courses/${it.course_id}` }, it.course_title),
        h('div', { class: 'muted small' }, it.policy_title, it.available ? '' : ' · no longer for sale')),
      h('div', { class: 'price' }, yuan(it.price_fen)), remove));
  }
  const pay = h('button', { type: 'submit', class: 'primary wide', id: 'checkout', 'data-testid': 'checkout-button' }, `Pay ${yuan(total)}`);
  const co = new Checkout();
  pay.onclick = async () => {
    pay.disabled = true;
    err.replaceChildren();
    try {
      await co.run({}, signal);
      pay.replaceWith(loading());
    } catch (e) {
      if (e.name === 'AbortError') return;
      pay.disabled = false;
      fill(err, errorBox(e, 'checkout-error'));
    }
  };
  view.append(list, h('p', { class: 'total' }, 'Total ', h('b', null, yuan(total))), err, pay);
}
