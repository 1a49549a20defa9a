// The page's entry: sign-in (token or one-time link), the view router, the health light.

import { ApiError, api, auth, exchangeCode } from './api.js';
import { ChatView } from './views/chat.js';
import { CronView } from './views/cron.js';
import { HeartbeatView } from './views/heartbeat.js';
import { JobsView } from './views/jobs.js';
import { MemoryView } from './views/memory.js';
import { NotesView } from './views/notes.js';
import { SettingsView } from './views/settings.js';
import { TasksView } from './views/tasks.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['chat', 'memory', 'notes', 'tasks', 'heartbeat', 'jobs', 'cron', 'settings'];
const views = {};
let current = null;
let currentQuery = '';
let healthTimer = null;
const LOGIN_LINK = /^#login=([\w-]+)$/;

async function boot() {
  if (LOGIN_LINK.test(location.hash)) {
    await redeemLink();
    return;
  }
  if (auth.token) start();
  else showLogin();
}

/** A one-time link (`localgpt open`) carries its code in the fragment, which never reaches the
 * server; drop it from the address bar and history before anything else happens. Called at load
 * and when such a link is pasted into a tab that is already open (only the fragment changes,
 * so the page does not reload). */
async function redeemLink() {
  const login = LOGIN_LINK.exec(location.hash);
  if (!login) return;
  history.replaceState(null, '', location.pathname + location.search + '#chat');
  try {
    auth.token = await exchangeCode(login[1]);
  } catch (err) {
    showLogin(
      err instanceof ApiError && err.status === 401
        ? 'This login link is invalid, expired or already used. Run `localgpt open` again, or paste the token.'
        : err.message,
    );
    return;
  }
  start();
}

function onHashChange() {
  if (LOGIN_LINK.test(location.hash)) redeemLink();
  else route();
}

function showLogin(message = '') {
  stop();
  $('shell').hidden = true;
  $('login').hidden = false;
  const error = $('login-error');
  error.textContent = message;
  error.hidden = !message;
  $('login-token').value = '';
  $('login-token').focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $('login-token').value.trim();
  const button = event.submitter || $('login-form').querySelector('button');
  if (!token) return;
  button.disabled = true;
  try {
    await api('/api/memory/stats', { token }); // any authenticated route proves the token
    auth.token = token;
    start();
  } catch (err) {
    showLogin(
      err.status === 401
        ? 'Wrong token: the server refused it. Copy it again from $LOCALGPT_HOME/token.'
        : `Could not sign in: ${err.message}`,
    );
  } finally {
    button.disabled = false;
  }
}

function start() {
  $('login').hidden = true;
  $('shell').hidden = false;
  for (const name of VIEWS) {
    if (!views[name]) views[name] = makeView(name, $(`view-${name}`));
  }
  route();
  pollHealth();
}

function makeView(name, root) {
  const View = {
    chat: ChatView,
    memory: MemoryView,
    tasks: TasksView,
    heartbeat: HeartbeatView,
    jobs: JobsView,
    cron: CronView,
    notes: NotesView,
    settings: SettingsView,
  }[name];
  return new View(root, { banner });
}

function stop() {
  clearTimeout(healthTimer);
  if (current) views[current]?.hide?.();
  current = null;
}

function route() {
  if ($('shell').hidden) return;
  const [name, query = ''] = location.hash.slice(1).split('?');
  const next = VIEWS.includes(name) ? name : 'chat';
  if (next === current && query !== currentQuery) {
    currentQuery = query; // e.g. #notes?path=HEARTBEAT.md from another view's link
    views[next].show?.(new URLSearchParams(query));
  } else if (next !== current) {
    if (current) views[current].hide?.();
    for (const section of document.querySelectorAll('.view')) {
      section.hidden = section.dataset.view !== next;
    }
    for (const link of document.querySelectorAll('nav a')) {
      if (link.dataset.view === next) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    current = next;
    currentQuery = query;
    const label = document.querySelector(`nav a[data-view="${next}"]`)?.textContent || next;
    document.title = `${label} · LocalGPT`;
    views[next].show?.(new URLSearchParams(query || ''));
  }
}

/** A message across the top: errors that belong to no single view. */
function banner(message, kind = 'error') {
  const el = $('banner');
  el.textContent = message || '';
  el.className = `banner ${kind}`;
  el.hidden = !message;
}

async function pollHealth() {
  clearTimeout(healthTimer);
  const el = $('health');
  let label;
  let state;
  let detail;
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    const body = await response.json();
    const problems = Object.entries(body.checks || {}).filter(([, v]) => v !== 'ok');
    if (body.status === 'ok') {
      [state, label, detail] = ['ok', 'online', 'All parts are working.'];
    } else if (problems.length === 1 && problems[0][1] === 'loading') {
      [state, label, detail] = [
        'warn',
        'warming up',
        'The embedding model is loading: search uses keywords meanwhile.',
      ];
    } else {
      [state, label] = ['warn', 'degraded'];
      detail = problems.map(([k, v]) => `${k}: ${v}`).join('\n');
    }
  } catch {
    [state, label, detail] = ['down', 'offline', 'The LocalGPT API does not answer.'];
  }
  el.dataset.state = state;
  el.title = detail;
  el.querySelector('.label').textContent = label;
  healthTimer = setTimeout(pollHealth, document.hidden ? 60_000 : 10_000);
}

function shortcuts(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest('input, textarea, select, [contenteditable]');
  if (typing || $('shell').hidden) return;
  if (event.key === '/') {
    event.preventDefault();
    views[current]?.focus?.();
  } else if (/^[1-8]$/.test(event.key)) {
    location.hash = VIEWS[Number(event.key) - 1];
  }
}

$('login-form').addEventListener('submit', signIn);
$('logout').addEventListener('click', () => {
  auth.token = null;
  for (const name of VIEWS) views[name]?.reset?.();
  showLogin();
});
document.addEventListener('unauthorized', () => {
  auth.token = null;
  showLogin('Your token is no longer accepted (was it changed?). Sign in again.');
});
document.addEventListener('open-citation', (event) => {
  location.hash = 'memory';
  route();
  views.memory.openFile(event.detail.path, event.detail.start, event.detail.end);
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && !$('shell').hidden) {
    pollHealth();
    views[current]?.show?.(new URLSearchParams());
  }
});
document.addEventListener('keydown', shortcuts);
window.addEventListener('hashchange', onHashChange);
boot();
