// The lesson player: an AES-128-encrypted HLS ladder through the edge. Browsers that play
// HLS themselves (Safari, iOS, most Android browsers) get the playlist as the video's
// src; others get hls.js, loaded only here and only then.
import { api, token, toLogin } from '/static/api.js';
import { h, fill, errorBox, setTitle } from '/static/ui.js';

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
  await attach(video, play.url, status, signal);
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
