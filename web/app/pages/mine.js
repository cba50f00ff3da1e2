// My courses (the courses I may watch now) and my homework.
import { api, signedIn } from '/static/api.js';
import { h, fill, when, errorBox, setTitle } from '/static/ui.js';
import { cover } from '/static/pages/catalog.js';

// myCourses lists the courses the user is enrolled in now, however they got them.
async function myCourses(signal) {
  const res = await api('/me/courses', { signal });
  return res.items.map((m) => ({ id: m.course_id, title: m.title, expires_at: m.expires_at, since: m.enrolled_at }));
}

export async function courses({ view, signal }) {
  setTitle('My courses');
  if (!signedIn('Sign in to see your courses.')) return;
  const list = await myCourses(signal);
  fill(view, h('h1', null, 'My courses'),
    list.length
      ? h('div', { class: 'cards', id: 'my-courses' }, list.map((c) => h('a', { class: 'card', href: `#/courses/${c.id}`, 'data-testid': 'my-course', 'data-course-id': c.id },
        cover(c), h('div', { class: 'card-body' }, h('h3', null, c.title),
          h('p', { class: 'muted small' }, c.expires_at ? `Access until ${when(c.expires_at)}` : 'Access for good')))))
      : h('p', { class: 'muted', id: 'no-courses' }, 'No courses yet. ', h('a', { href: '#/' }, 'Browse the courses'), '.'),
    h('p', null, h('a', { href: '#/orders' }, 'All my orders')));
}

export async function homework({ view, signal }) {
  setTitle('My homework');
  if (!signedIn('Sign in to see your homework.')) return;
  const list = await myCourses(signal);
  fill(view, h('h1', null, 'My homework'));
  if (!list.length) {
    view.append(h('p', { class: 'muted' }, 'Homework comes with the courses you buy. ', h('a', { href: '#/' }, 'Browse the courses'), '.'));
    return;
  }
  // One request per course, all at once; a course that fails to load says so in place.
  const sections = list.map((c) => {
    const sec = h('section', { class: 'chapter', 'data-testid': 'homework-course', 'data-course-id': c.id }, h('h3', null, c.title), h('p', { class: 'muted' }, 'Loading…'));
    api(`/courses/${c.id}`, { signal }).then((full) => {
      const items = (full.chapters || []).flatMap((ch) => (ch.homework || []).map((hw) => h('li', null,
        h('a', { href: `#/courses/${c.id}/homework/${hw.id}`, 'data-testid': 'homework-link', 'data-homework-id': hw.id }, hw.title),
        h('span', { class: 'muted small' }, ' · ', ch.title))));
      fill(sec, h('h3', null, c.title), items.length ? h('ul', { class: 'lessons' }, items) : h('p', { class: 'muted' }, 'This course has no homework.'));
    }).catch((err) => {
      if (err.name !== 'AbortError') fill(sec, h('h3', null, c.title), errorBox(err, 'homework-error'));
    });
    return sec;
  });
  view.append(...sections);
}
