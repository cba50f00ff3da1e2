// A course: its price policies (buy now, or add to the cart), chapters, lessons and
// homework.
import { api, token, toLogin } from '/static/api.js';
import { h, fill, yuan, minutes, when, errorBox, setTitle } from '/static/ui.js';
import { cover, TYPE_LABEL } from '/static/pages/catalog.js';
import { Checkout } from '/static/pages/cart.js';

export async function course({ view, params, signal }) {
  const id = params[0];
  const c = await api(`/courses/${id}`, { signal });
  setTitle(c.title);
  const policies = c.price_policies || [];
  const msg = h('div', { id: 'buy-message' });
  let chosen = policies.length ? policies[0].id : null;
  const policyList = h('fieldset', { class: 'policies', id: 'price-policies' },
    h('legend', null, 'Choose a plan'),
    policies.map((p, i) => h('label', { class: 'policy', 'data-testid': 'price-policy', 'data-policy-id': p.id },
      h('input', { type: 'radio', name: 'policy', value: p.id, checked: i === 0, onchange: () => { chosen = p.id; } }),
      h('span', { class: 'grow' }, p.title, h('span', { class: 'muted small' }, p.valid_days ? ` · ${p.valid_days} days` : ' · lifetime access')),
      h('span', { class: 'price' }, yuan(p.price_fen), p.original_price_fen > p.price_fen ? h('s', { class: 'muted small' }, ' ' + yuan(p.original_price_fen)) : ''))));

  const needLogin = () => {
    if (token()) return false;
    toLogin('Sign in to buy this course.');
    return true;
  };
  const co = new Checkout();
  const buy = h('button', { type: 'button', class: 'primary', id: 'buy', 'data-testid': 'buy-button' }, 'Buy now');
  buy.onclick = async () => {
    if (needLogin()) return;
    buy.disabled = true;
    msg.replaceChildren();
    try {
      await co.run({ items: [{ course_id: c.id, price_policy_id: chosen }] }, signal);
      fill(msg, h('p', { class: 'muted' }, 'Taking you to the payment page…'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      buy.disabled = false;
      fill(msg, errorBox(explain(e), 'buy-error'), /pending order/.test(e.message) ? h('a', { href: '#/orders' }, 'See my orders') : null);
    }
  };
  const add = h('button', { type: 'button', id: 'add-to-cart', 'data-testid': 'add-to-cart' }, 'Add to cart');
  add.onclick = async () => {
    if (needLogin()) return;
    add.disabled = true;
    msg.replaceChildren();
    try {
      await api('/cart/items', { method: 'POST', body: { course_id: c.id, price_policy_id: chosen }, signal });
      fill(msg, h('p', { class: 'ok', id: 'cart-added' }, 'Added to your cart. ', h('a', { href: '#/cart' }, 'Go to the cart')));
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(msg, errorBox(explain(e), 'buy-error'));
    } finally {
      add.disabled = false;
    }
  };

  const chapters = (c.chapters || []).map((ch) => h('section', { class: 'chapter', 'data-testid': 'chapter' },
    h('h3', null, ch.title),
    ch.summary ? h('p', { class: 'muted' }, ch.summary) : null,
    h('ul', { class: 'lessons' }, (ch.lessons || []).map((l) => h('li', { 'data-testid': 'lesson', 'data-lesson-id': l.id },
      l.video_id
        ? h('a', { href: `#/courses/${c.id}/lessons/${l.id}`, 'data-testid': 'lesson-link' }, '▶ ', l.title)
        : h('span', { class: 'muted' }, l.title),
      l.free_preview ? h('span', { class: 'tag' }, 'Free preview') : null,
      h('span', { class: 'muted small right' }, l.duration_seconds ? minutes(l.duration_seconds) : '')))),
    (ch.homework || []).length ? h('ul', { class: 'lessons' }, ch.homework.map((hw) => h('li', null,
      h('a', { href: `#/courses/${c.id}/homework/${hw.id}`, 'data-testid': 'homework-link', 'data-homework-id': hw.id }, '✎ ', hw.title)))) : null));

  const first = (c.chapters || []).flatMap((ch) => ch.lessons || []).find((l) => l.video_id);
  const box = policies.length
    ? h('div', { class: 'buybox', id: 'buybox' }, policyList, h('div', { class: 'actions' }, buy, add), msg)
    : h('p', { class: 'muted' }, 'This course is not for sale right now.');
  fill(view,
    h('p', { class: 'crumbs' }, h('a', { href: `#/c/${c.direction.id}` }, c.direction.name), ' › ',
      h('a', { href: `#/c/${c.category.id}` }, c.category.name)),
    h('div', { class: 'hero' }, cover(c),
      h('div', null,
        h('h1', { id: 'course-title' }, c.title),
        h('p', { class: 'muted' }, [TYPE_LABEL[c.type] || c.type, c.level, `${c.lesson_count} lessons`, minutes(c.duration_seconds)].filter(Boolean).join(' · ')),
        c.brief ? h('p', null, c.brief) : null)),
    box,
    (c.teachers || []).length ? h('p', { class: 'muted small' }, 'Teachers: ', c.teachers.map((t) => `${t.name} (${t.title})`).join(', ')) : null,
    h('h2', null, 'Contents'),
    chapters.length ? chapters : h('p', { class: 'muted' }, 'No lessons yet.'));

  // Enrolled already? Then the prices give way to the lessons.
  if (token()) {
    api('/me/courses', { signal }).then((res) => {
      const mine = res.items.find((m) => m.course_id === c.id);
      if (mine) box.replaceWith(owned(c, first, mine));
    }).catch(() => { /* the prices stay; buying would say */ });
  }
}

function owned(c, first, mine) {
  return h('p', { class: 'ok', id: 'owned', 'data-testid': 'owned' },
    mine.expires_at ? `You are enrolled until ${when(mine.expires_at)}. ` : 'You own this course. ',
    first ? h('a', { href: `#/courses/${c.id}/lessons/${first.id}` }, 'Start learning') : null);
}

// explain says what an order refusal means.
function explain(e) {
  if (/already enrolled/.test(e.message)) return 'You already own this course: open any lesson to watch it.';
  return e;
}
