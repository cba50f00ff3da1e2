// The main flow on a phone: a new student finds a paid course through the catalog,
// registers on the way to buying it, pays on the payment simulator's page, watches a paid
// lesson (the video's clock must move), solves a-plus-b and sees Accepted, and finds the
// payment among the notifications. Every page is saved as a screenshot.
//
//   LUFFY_E2E_BASE=http://127.0.0.1:8081 node web/e2e/flow.mjs
import { Run, PHONE, BASE, api, visible, message, notBlank, go, paidVideoLesson, newUsername } from './lib.mjs';

const run = new Run('flow');

run.main(async (browser) => {
  const { course, lesson } = await run.step('find the demo course with a paid video lesson (API)', paidVideoLesson);
  run.log(`course ${course.id} "${course.title}" (${course.direction.name} · ${course.category.name}), paid lesson ${lesson.id}`);
  const ctx = await browser.newContext(PHONE);
  const page = run.watch(await ctx.newPage());
  const username = newUsername('e2e');
  const password = 'e2e-pass-' + Math.random().toString(36).slice(2, 10);

  await run.step('open the catalog', async () => {
    await go(page, '/');
    await visible(page, '[data-testid=course-card]');
    await notBlank(page);
    await run.shot(page, 'catalog');
  });

  await run.step(`choose the direction ${course.direction.name}`, async () => {
    await page.locator(`#directions [data-testid=category-link][data-category-id="${course.direction.id}"]`).click();
    await visible(page, `#categories [data-category-id="${course.category.id}"]`);
    await visible(page, '[data-testid=course-card]');
    await run.shot(page, 'direction');
  });

  await run.step(`choose the category ${course.category.name}`, async () => {
    await page.locator(`#categories [data-testid=category-link][data-category-id="${course.category.id}"]`).click();
    await visible(page, `#categories [data-category-id="${course.category.id}"].on`);
    await visible(page, `[data-testid=course-card][data-course-id="${course.id}"]`);
    await run.shot(page, 'category');
  });

  await run.step('open the course', async () => {
    await page.locator(`[data-testid=course-card][data-course-id="${course.id}"]`).click();
    await message(page, '#course-title', /\S/);
    await visible(page, '#buy');
    await visible(page, `[data-testid=lesson][data-lesson-id="${lesson.id}"]`);
    await run.shot(page, 'course');
  });

  await run.step('buy while signed out: sent to sign in', async () => {
    await page.locator('#buy').click();
    await visible(page, '#login-form');
    await message(page, '#session-message', /sign in/i);
    await run.shot(page, 'login-to-buy');
  });

  await run.step(`register as ${username}`, async () => {
    await page.locator('#to-register').click();
    await visible(page, '#register-form');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await run.shot(page, 'register');
    await page.locator('#register-submit').click();
    // back on the course it was buying, signed in
    await page.waitForURL((u) => u.hash === `#/courses/${course.id}`, { timeout: 15000 });
    await visible(page, '#buy');
    await visible(page, '#nav-logout');
    await run.shot(page, 'course-signed-in');
  });

  let orderURL;
  await run.step('buy now: the payment simulator\'s page', async () => {
    await page.locator('#buy').click();
    await page.waitForURL((u) => !u.href.startsWith(BASE), { timeout: 15000 });
    await visible(page, '#pay');
    await run.shot(page, 'paysim');
  });

  await run.step('pay: back on the order, paid', async () => {
    await page.locator('#pay').click();
    await page.waitForURL((u) => u.href.startsWith(BASE) && /^#\/orders\/\d+$/.test(u.hash), { timeout: 15000 });
    orderURL = page.url();
    await visible(page, '#order-status[data-status=paid]', 30000);
    await visible(page, '#start-learning');
    await run.shot(page, 'order-paid');
  });
  run.log(`order ${orderURL}`);

  await run.step('the course says it is owned', async () => {
    await page.locator('#start-learning').click();
    await visible(page, '#owned');
    await run.shot(page, 'course-owned');
  });

  await run.step(`play the paid lesson ${lesson.id}: the video's time advances`, async () => {
    await page.locator(`[data-testid=lesson][data-lesson-id="${lesson.id}"] a`).click();
    await page.waitForURL((u) => u.hash === `#/courses/${course.id}/lessons/${lesson.id}`);
    await playsAndAdvances(page);
    await run.shot(page, 'player');
  });

  // Chromium plays HLS itself now; most desktop browsers do not and get the bundled
  // hls.js, which decrypts the AES-128 segments in the page. A browser without native HLS
  // is one whose canPlayType says so.
  await run.step(`the same lesson through hls.js`, async () => {
    const p2 = run.watch(await ctx.newPage());
    await p2.addInitScript(() => {
      const can = HTMLMediaElement.prototype.canPlayType;
      HTMLMediaElement.prototype.canPlayType = function (type) {
        return /mpegurl/i.test(type) ? '' : can.call(this, type);
      };
    });
    await go(p2, `/courses/${course.id}/lessons/${lesson.id}`);
    await playsAndAdvances(p2, 'hls.js');
    await run.shot(p2, 'player-hlsjs');
    await p2.close();
    run.watch(page);
  });

  let questionID;
  await run.step('ask the tutor about the lesson', async () => {
    await visible(page, '#ask-form');
    await page.fill('#question-title', 'Why does the key change every segment?');
    await page.fill('#question-body', 'I paused at 0:01 and want to understand the encryption.');
    await page.locator('#ask-submit').click();
    await visible(page, '#ask-sent');
    const q = await visible(page, '[data-testid=lesson-question]');
    questionID = await q.getAttribute('data-question-id');
    run.log(`question ${questionID}: ${(await q.innerText()).replace(/\s+/g, ' ')}`);
    await run.shot(page, 'question-asked');
  });

  await run.step('a tutor answers it (API); the lesson shows the answer', async () => {
    const { token } = await api('/auth/login', { method: 'POST', body: { username: 'tutor1', password: process.env.LUFFY_DEMO_PASSWORD || 'luffy-demo' } });
    const q = await api(`/questions/${questionID}`, { token });
    if (q.status === 'pooled') await api(`/tutor/questions/${questionID}/take`, { method: 'POST', token });
    await api(`/tutor/questions/${questionID}/answer`, { method: 'POST', token, body: { answer: 'Each segment has its own IV; the key rotates per version.' } });
    await page.reload();
    await visible(page, `[data-testid=lesson-question][data-status=answered] [data-testid=question-answer]`);
    await run.shot(page, 'question-answered');
  });

  await run.step('my courses lists it', async () => {
    await page.locator('#nav a[data-nav=my]').click();
    await page.waitForURL((u) => u.hash === '#/my');
    await visible(page, `a[href="#/courses/${course.id}"]`);
    await run.shot(page, 'my-courses');
  });

  const homework = (course.chapters || []).flatMap((ch) => ch.homework || [])[0];
  if (homework) {
    await run.step(`homework ${homework.id}: submit an answer with a file, then download the file`, async () => {
      await go(page, `/courses/${course.id}/homework/${homework.id}`);
      await visible(page, '#homework-form');
      await page.fill('#homework-text', 'My answer, with notes attached.');
      await page.setInputFiles('#homework-files', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('my working notes\n') });
      await page.locator('#homework-submit').click();
      const file = await visible(page, '[data-testid=homework-version] [data-testid=homework-file]');
      const [dl] = await Promise.all([page.waitForEvent('download'), file.click()]);
      if (dl.suggestedFilename() !== 'notes.txt') throw new Error(`downloaded ${dl.suggestedFilename()}, want notes.txt`);
      run.log(`homework version submitted; its file downloads as ${dl.suggestedFilename()}`);
      await run.shot(page, 'homework');
    });
  } else {
    run.log('the bought course has no homework: the homework step is left out');
  }

  await run.step('the problem list', async () => {
    await page.locator('#nav a[data-nav=problems]').click();
    await visible(page, '[data-testid=problem][data-slug=a-plus-b]');
    await run.shot(page, 'problems');
  });

  await run.step('submit a-plus-b in Python: Accepted', async () => {
    await page.locator('[data-testid=problem][data-slug=a-plus-b] a').click();
    await visible(page, '#editor');
    await page.selectOption('#language', 'python3');
    await page.fill('#editor', 'a, b = map(int, input().split())\nprint(a + b)\n');
    await run.shot(page, 'problem');
    // The live states are noted as they come over the event stream.
    await page.evaluate(() => {
      window.e2eStates = [];
      const note = () => {
        const v = document.getElementById('verdict');
        const s = v && v.dataset.status;
        if (s && window.e2eStates[window.e2eStates.length - 1] !== s) window.e2eStates.push(s);
      };
      new MutationObserver(note).observe(document.getElementById('result'), { childList: true, subtree: true, attributes: true });
    });
    await page.locator('#submit').click();
    await visible(page, '#verdict[data-status=done]', 90000);
    const seen = await page.evaluate(() => window.e2eStates);
    const verdict = await page.locator('#verdict').getAttribute('data-verdict');
    const id = await page.locator('#verdict').getAttribute('data-submission-id');
    run.log(`submission ${id}: ${verdict}; states seen: ${seen.join(' → ')}`);
    await run.shot(page, 'verdict');
    if (verdict !== 'AC') throw new Error(`verdict ${verdict}: ${await page.locator('#result').innerText()}`);
  });

  await run.step('the payment is among the notifications', async () => {
    await page.locator('#nav-notifications').click();
    await visible(page, '#notifications');
    const n = await visible(page, '[data-testid=notification][data-kind=payment]');
    run.log(`notification: ${(await n.innerText()).replace(/\s+/g, ' ')}`);
    // and the answer, linked to its lesson
    await visible(page, `[data-testid=notification][data-kind=answer] a[href="#/courses/${course.id}/lessons/${lesson.id}"]`);
    await run.shot(page, 'notifications');
  });

  await run.step('the order from the notification', async () => {
    await page.locator('[data-testid=notification][data-kind=payment] a').first().click();
    await visible(page, '#order-status[data-status=paid]');
    if (page.url() !== orderURL) throw new Error(`the notification opened ${page.url()}, want ${orderURL}`);
    await run.shot(page, 'order-from-notification');
  });
});

// playsAndAdvances starts the player muted, as a phone's autoplay policy wants (a tap on
// play does the same), and waits for the video's clock to pass one second with a picture.
async function playsAndAdvances(page, wantEngine) {
  await page.waitForFunction(() => document.querySelector('#video[data-engine]') || document.querySelector('#play-error'), null, { timeout: 15000 });
  if (await page.locator('#play-error').count()) throw new Error('the player says: ' + (await page.locator('#play-error').innerText()));
  const engine = await page.locator('#video').getAttribute('data-engine');
  if (wantEngine && engine !== wantEngine) throw new Error(`player engine ${engine}, want ${wantEngine}`);
  await page.evaluate(() => {
    const v = document.getElementById('video');
    v.muted = true;
    return v.play().catch(() => {}); // a failure shows as #play-error or a clock that stays
  });
  const t = await page.waitForFunction(() => {
    if (document.querySelector('#play-error')) return { error: document.querySelector('#play-error').innerText };
    const v = document.getElementById('video');
    return v && v.currentTime > 1.0 ? { time: v.currentTime } : null;
  }, null, { timeout: 30000, polling: 100 }).then((h) => h.jsonValue());
  if (t.error) throw new Error('the player says: ' + t.error);
  const f = await page.evaluate(() => {
    const v = document.getElementById('video');
    v.pause();
    return { time: v.currentTime, width: v.videoWidth, height: v.videoHeight, duration: v.duration };
  });
  run.log(`player engine ${engine}: video at ${f.time.toFixed(2)} s of ${f.duration.toFixed(1)} s, ${f.width}x${f.height}`);
  if (!f.width) throw new Error('the video has no picture (videoWidth 0)');
}
