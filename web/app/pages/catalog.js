// The home page: directions and their categories, and the courses of the one chosen.
import { api } from '/static/api.js';
import { h, fill, yuan, minutes, errorBox, setTitle, busy } from '/static/ui.js';

const TYPES = [['', 'All'], ['employment', 'Career'], ['light', 'Light'], ['practical', 'Practical'], ['free', 'Free']];

export async function catalog({ view, params, query, signal }) {
  const category = params[0] || '';
  const type = query.get('type') || '';
  const base = category ? `#/c/${category}` : '#/';
  const list = h('div', { class: 'cards', id: 'course-list', 'data-testid': 'course-list' });
  const more = h('div');
  const cats = await api('/categories', { signal });
  const dirs = cats.items || [];
  // The directions in one row; the categories of the chosen one (or of the chosen
  // category's direction) in a second.
  let title = 'All courses';
  let dir = null;
  for (const d of dirs) {
    if (String(d.id) === category) { title = d.name; dir = d; }
    for (const c of d.categories) if (String(c.id) === category) { title = `${d.name} · ${c.name}`; dir = d; }
  }
  setTitle(category ? title : '');
  const link = (id, name, cls) => h('a', { href: id ? `#/c/${id}` : '#/', class: cls, 'data-testid': 'category-link', 'data-category-id': id }, name);
  fill(view,
    h('nav', { class: 'cats', 'aria-label': 'Directions', id: 'directions' },
      link('', 'All', category ? 'chip' : 'chip on'),
      dirs.map((d) => link(d.id, d.name, dir === d ? 'chip on' : 'chip'))),
    dir ? h('nav', { class: 'cats sub', 'aria-label': 'Categories', id: 'categories' },
      link(dir.id, 'All ' + dir.name, String(dir.id) === category ? 'chip on' : 'chip'),
      dir.categories.map((c) => link(c.id, c.name, String(c.id) === category ? 'chip on' : 'chip'))) : null,
    h('h1', null, title),
    h('div', { class: 'types', role: 'group', 'aria-label': 'Course type' },
      TYPES.map(([t, label]) => h('a', { href: t ? `${base}?type=${t}` : base, class: t === type ? 'chip on' : 'chip' }, label))),
    list, more);

  const page = async (cursor) => {
    const q = new URLSearchParams({ limit: '20' });
    if (category) q.set('category', category);
    if (type) q.set('type', type);
    if (cursor) q.set('cursor', cursor);
    const res = await api('/courses?' + q, { signal });
    list.append(...res.items.map(card));
    if (!list.children.length) list.append(h('p', { class: 'muted' }, 'No courses here yet.'));
    more.replaceChildren();
    if (res.next_cursor) {
      const b = h('button', { type: 'button', class: 'wide', id: 'more' }, 'More courses');
      b.onclick = () => busy(b, () => page(res.next_cursor).catch((err) => more.append(errorBox(err))));
      more.append(b);
    }
  };
  await page('');
}

// cover draws a course's cover from its id: the catalog's cover_url names files nothing
// serves yet.
export function cover(c) {
  const hue = (c.id * 47) % 360;
  return h('div', { class: 'cover', style: `background:linear-gradient(135deg,hsl(${hue} 55% 42%),hsl(${(hue + 40) % 360} 60% 30%))` },
    h('span', null, (c.title || '?').slice(0, 2)));
}

export const TYPE_LABEL = Object.fromEntries(TYPES);

function card(c) {
  return h('a', { class: 'card', href: `#/courses/${c.id}`, 'data-testid': 'course-card', 'data-course-id': c.id },
    cover(c),
    h('div', { class: 'card-body' },
      h('h3', null, c.title),
      h('p', { class: 'muted small' }, [TYPE_LABEL[c.type] || c.type, `${c.lesson_count} lessons`, minutes(c.duration_seconds)].join(' · ')),
      h('p', { class: 'price' }, c.price_from_fen == null ? 'Free' : (c.price_from_fen === 0 ? 'Free' : 'from ' + yuan(c.price_from_fen)))));
}
