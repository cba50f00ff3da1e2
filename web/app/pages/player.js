// The lesson player: an AES-128-encrypted HLS ladder through the edge. Browsers that play
// HLS themselves (Safari, iOS, most Android browsers) get the playlist as the video's
// src; others get hls.js, loaded only here and only then.
import { api, token, toLogin } from '/static/api.js';
import { h, fill, errorBox, showError, when, setTitle } from '/static/ui.js';

// Rewritten by the server to the fingerprinted URL of the copy the build vendored.
const HLS_JS = '/static/vendor/hls.min.js';

let hlsLoading = null;

function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = HLS_JS;
      s.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js did not load')));
      s.onerror = () => { hlsLoading = null; reject(new Error('hls.js could not be loaded')); };
      document.head.append(s);
    });
  }
  return hlsLoading;
}

export async function player({ view, params, signal }) {
  const [courseID, lessonID] = params;
  const c = await api(`/courses/${courseID}`, { signal });
  const lessons = (c.chapters || []).flatMap((ch) => ch.lessons || []);
  const i = lessons.findIndex((l) => String(l.id) === lessonID);
  const lesson = lessons[i];
  setTitle(lesson ? lesson.title : c.title);
  const video = h('video', { id: 'video', 'data-testid': 'video', controls: true, playsinline: true, preload: 'metadata' });
  const status = h('div', { id: 'player-status' });
  const box = h('div', { class: 'player' }, video);
  const withVideo = (j, step) => {
    for (let k = j + step; k >= 0 && k < lessons.length; k += step) if (lessons[k].video_id) return lessons[k];
    return null;
  };
  const prev = withVideo(i, -1);
  const next = withVideo(i, 1);
  fill(view,
    h('p', { class: 'crumbs' }, h('a', { href: `#/courses/${c.id}` }, c.title)),
    h('h1', { id: 'lesson-title' }, lesson ? lesson.title : `Lesson ${lessonID}`),
    box,
    status,
    h('p', { class: 'pager' },
      prev ? h('a', { href: `#/courses/${c.id}/lessons/${prev.id}` }, '‹ ', prev.title) : h('span'),
      next ? h('a', { href: `#/courses/${c.id}/lessons/${next.id}`, id: 'next-lesson' }, next.title, ' ›') : h('span')));

  if (lesson && !lesson.free_preview && !token()) {
    fill(status, playError(c, 'This lesson is for students of this course. Sign in (and buy the course) to watch it.', true));
    box.remove();
    return;
  }
  let play;
  try {
    play = await api(`/lessons/${lessonID}/play`, { method: 'POST', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    if (err.status === 403 && err.code === 'not_enrolled') {
      fill(status, playError(c, "You haven't bought this course yet: buy it to watch this lesson."));
    } else if (err.status === 401) {
      fill(status, playError(c, 'Sign in to watch this lesson.', true));
    } else if (err.code === 'no_video') {
      fill(status, errorBox('This lesson has no video yet.', 'play-error'));
    } else {
      fill(status, errorBox(err, 'play-error'));
    }
    box.remove();
    return;
  }
  if (token()) view.append(questions(lessonID, signal));
  await attach(video, play.url, status, signal);
}

const QUESTION_STATUS = {
  assigned: 'Waiting for your tutor', pooled: 'Waiting for a tutor', taken: 'A tutor is on it',
  escalated: 'Passed to the teaching team', answered: 'Answered',
};

// questions is the lesson's questions section for a signed-in student who may watch it:
// theirs about this lesson, with the answers, and a form to ask the course's tutor.
function questions(lessonID, signal) {
  const list = h('div', { id: 'lesson-questions', 'data-testid': 'lesson-questions' });
  const error = h('div', { class: 'error', role: 'alert', id: 'ask-error', 'data-testid': 'ask-error', hidden: true });
  const title = h('input', { id: 'question-title', name: 'title', maxlength: 200, required: true, placeholder: 'What is your question about?' });
  const body = h('textarea', { id: 'question-body', name: 'body', rows: 4, placeholder: 'Details: what you tried, where it went wrong (optional)' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'ask-submit' }, 'Ask the tutor');
  const sent = h('p', { class: 'muted', id: 'ask-sent', hidden: true },
    'Sent. A tutor answers within 2 working hours; the answer appears here and in your notifications.');
  const form = h('form', { id: 'ask-form', 'data-testid': 'ask-form', class: 'stack' },
    h('label', { for: 'question-title' }, 'Ask about this lesson'), title, body, error, submit, sent);
  const refresh = async () => {
    const res = await api('/questions', { signal });
    const mine = res.items.filter((q) => String(q.lesson_id) === String(lessonID));
    if (!mine.length) {
      fill(list, h('p', { class: 'muted' }, 'No questions about this lesson yet.'));
      return;
    }
    fill(list, ...mine.map((q) => h('article', { class: 'version', 'data-testid': 'lesson-question', 'data-status': q.status, 'data-question-id': q.id },
      h('header', null, h('b', null, q.title), ' · ', when(q.created_at), ' · ',
        h('span', { class: `status s-${q.status}` }, QUESTION_STATUS[q.status] || q.status)),
      q.body ? h('p', null, q.body) : null,
      q.answer ? h('pre', { class: 'answer', 'data-testid': 'question-answer' }, q.answer) : null)));
  };
  form.onsubmit = async (e) => {
    e.preventDefault();
    error.hidden = true;
    sent.hidden = true;
    if (!title.value.trim()) {
      showError(error, 'Write your question first.');
      return;
    }
    submit.disabled = true;
    try {
      await api('/questions', { method: 'POST', body: { lesson_id: Number(lessonID), title: title.value.trim(), body: body.value }, signal });
      title.value = '';
      body.value = '';
      sent.hidden = false;
      await refresh();
    } catch (err) {
      if (err.name !== 'AbortError') showError(error, err);
    } finally {
      submit.disabled = false;
    }
  };
  refresh().catch((err) => { if (err.name !== 'AbortError') fill(list, errorBox(err, 'questions-error')); });
  return h('section', { id: 'questions' }, h('h2', null, 'Questions'), list, form);
}

function playError(c, msg, login) {
  return h('div', { class: 'error', role: 'alert', id: 'play-error', 'data-testid': 'play-error' }, msg, ' ',
    login ? h('a', { href: '#/login', onclick: (e) => { e.preventDefault(); toLogin('Sign in to watch this lesson.'); } }, 'Sign in') : null,
    login ? ' · ' : null,
    h('a', { href: `#/courses/${c.id}` }, 'See the course and its prices'));
}

async function attach(video, url, status, signal) {
  const failed = (msg) => fill(status, errorBox(msg, 'play-error'));
  video.addEventListener('error', () => {
    const e = video.error;
    if (e) failed(`The video could not be played (${e.message || 'media error ' + e.code}). Reload to try again.`);
  });
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.dataset.engine = 'native';
    video.src = url;
    return;
  }
  let Hls;
  try {
    Hls = await loadHls();
  } catch {
    failed('This browser cannot play streaming video by itself, and the player could not be loaded. Check your connection and reload, or try another browser.');
    return;
  }
  if (signal.aborted) return;
  if (!Hls.isSupported()) {
    failed('This browser cannot play streaming video (no Media Source Extensions). Try a current Chrome, Firefox, Edge or Safari.');
    return;
  }
  const hls = new Hls({ enableWorker: true });
  video.dataset.engine = 'hls.js';
  signal.addEventListener('abort', () => hls.destroy());
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (!d.fatal) return;
    const code = d.response && d.response.code;
    if (code === 403 || code === 401) {
      failed('The video link has expired or is not valid for you. Reload the page to get a new one.');
    } else if (d.type === Hls.ErrorTypes.NETWORK_ERROR) {
      failed("The video could not be loaded. Check your connection and reload.");
    } else {
      failed(`The video could not be played (${d.details}). Reload to try again.`);
    }
    hls.destroy();
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}
