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
  const discounts = await discountInputs(total, signal);
  const pay = h('button', { type: 'submit', class: 'primary wide', id: 'checkout', 'data-testid': 'checkout-button' }, `Pay ${yuan(total)}`);
  const co = new Checkout();
  pay.onclick = async () => {
    pay.disabled = true;
    err.replaceChildren();
    try {
      await co.run(discounts.body(), signal);
      pay.replaceWith(loading());
    } catch (e) {
      if (e.name === 'AbortError') return;
      pay.disabled = false;
      fill(err, errorBox(e, 'checkout-error'));
    }
  };
  view.append(list, h('p', { class: 'total' }, 'Total ', h('b', null, yuan(total))), discounts.el, err, pay);
}

// discountInputs offers one coupon (one of mine, or a code) and points (a point is a
// fen; the shop takes at most half the price in points and says so if asked for more).
// The gateway's page shows the amount left to pay.
async function discountInputs(total, signal) {
  const [mine, pts] = await Promise.all([
    api('/coupons/mine', { signal }).catch(() => ({ items: [] })),
    api('/points', { signal }).catch(() => ({ available: 0 })),
  ]);
  const usable = (mine.items || []).filter((c) => c.status === 'available');
  const code = h('input', { id: 'coupon-code', name: 'coupon_code', autocomplete: 'off', placeholder: 'Coupon code', 'data-testid': 'coupon-code' });
  const pick = h('select', { id: 'my-coupon', 'data-testid': 'my-coupon' },
    h('option', { value: '' }, usable.length ? 'No coupon of mine' : 'No coupons of mine'),
    ...usable.map((c) => h('option', { value: c.id }, `${c.coupon.title || c.coupon.code}`)));
  pick.onchange = () => { code.disabled = pick.value !== ''; };
  const most = Math.min(pts.available || 0, Math.floor(total / 2));
  const points = h('input', { id: 'use-points', type: 'number', min: 0, max: most, step: 1, value: 0, inputmode: 'numeric', 'data-testid': 'use-points' });
  const el = h('fieldset', { class: 'discounts' },
    h('legend', null, 'Discounts'),
    h('label', { for: 'my-coupon' }, 'Coupon'), pick, code,
    h('label', { for: 'use-points' }, `Points (you have ${pts.available || 0}; up to half the price, a point is ¥0.01)`), points);
  return {
    el,
    body() {
      const b = {};
      if (pick.value) b.user_coupon_id = Number(pick.value);
      else if (code.value.trim()) b.coupon_code = code.value.trim();
      const n = Math.floor(Number(points.value) || 0);
      if (n > 0) b.points = n;
      return b;
    },
  };
}
