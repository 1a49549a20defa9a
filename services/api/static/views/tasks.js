// Tasks: post a prompt for a worker to run in the background, watch it go queued -> running ->
// succeeded / failed, read the result (markdown) or the error; cancel one queued, stop one
// running (its model call stops within a second).

import { api } from '../api.js';
import { clear, h, timeEl, toDate } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { PolledView } from './polled.js';

const ACTIVE = new Set(['queued', 'running']);
const POLL_ACTIVE_MS = 1500;
const POLL_IDLE_MS = 10_000;
const FILTERS = ['all', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

export class TasksView extends PolledView {
  constructor(root, { banner }) {
    super();
    this.root = root;
    this.banner = banner;
    this.timer = null;
    this.filter = 'all';
    this.expanded = new Set();
    this.build();
  }

  build() {
    this.prompt = h('textarea', {
      name: 'prompt',
      rows: '3',
      required: true,
      maxlength: '100000',
      'aria-label': 'Task prompt',
      placeholder:
        'What should LocalGPT do in the background? e.g. “Summarise this week’s daily notes”',
      onkeydown: (e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          this.post();
        }
      },
    });
    this.formNote = h('p', { class: 'meta', role: 'status' });
    this.list = h('ol', { class: 'task-list', 'aria-label': 'Tasks' });
    this.filters = h(
      'div',
      { class: 'chips', role: 'group', 'aria-label': 'Filter by status' },
      FILTERS.map((f) =>
        h(
          'button',
          {
            type: 'button',
            class: 'chip',
            'aria-pressed': String(f === this.filter),
            onclick: () => {
              this.filter = f;
              this.updateFilters();
              this.refresh();
            },
          },
          f,
        ),
      ),
    );
    clear(
      this.root,
      h(
        'div',
        { class: 'narrow' },
        h(
          'form',
          {
            class: 'card task-form',
            onsubmit: (e) => {
              e.preventDefault();
              this.post();
            },
          },
          h('label', { for: 'task-prompt' }, 'New task'),
          Object.assign(this.prompt, { id: 'task-prompt' }),
          h(
            'div',
            { class: 'row' },
            h('span', { class: 'muted small' }, 'Ctrl+Enter to run'),
            h('button', { type: 'submit', class: 'primary' }, 'Run task'),
          ),
          this.formNote,
        ),
        this.filters,
        this.list,
      ),
    );
  }

  updateFilters() {
    for (const b of this.filters.children)
      b.setAttribute('aria-pressed', String(b.textContent === this.filter));
  }

  focus() {
    this.prompt.focus();
  }

  async post() {
    const prompt = this.prompt.value.trim();
    if (!prompt) return;
    this.formNote.textContent = 'Posting…';
    this.formNote.className = 'meta';
    try {
      const task = await api('/api/tasks', { method: 'POST', body: { prompt } });
      this.prompt.value = '';
      this.formNote.textContent = 'Posted: follow it below.';
      setTimeout(() => {
        if (this.formNote.textContent.startsWith('Posted')) this.formNote.textContent = '';
      }, 4000);
      this.expanded.add(task.id);
      this.refresh();
    } catch (err) {
      this.formNote.textContent = `Could not post the task: ${err.message}`;
      this.formNote.className = 'meta error';
    }
  }

  async refresh() {
    clearTimeout(this.timer);
    let tasks = [];
    try {
      const query = new URLSearchParams({ limit: 50 });
      if (this.filter !== 'all') query.set('status', this.filter);
      ({ tasks } = await api(`/api/tasks?${query}`));
      this.render(tasks);
    } catch (err) {
      clear(this.list, h('li', { class: 'error' }, `Tasks unavailable: ${err.message}`));
    }
    const busy = tasks.some((t) => ACTIVE.has(t.status));
    this.pollIn(busy ? POLL_ACTIVE_MS : POLL_IDLE_MS);
  }

  render(tasks) {
    if (!tasks.length) {
      clear(
        this.list,
        h(
          'li',
          { class: 'empty' },
          this.filter === 'all' ? 'No tasks yet.' : `No ${this.filter} tasks.`,
        ),
      );
      return;
    }
    clear(
      this.list,
      tasks.map((t) => this.taskItem(t)),
    );
  }

  taskItem(t) {
    const open = this.expanded.has(t.id) || ACTIVE.has(t.status);
    const details = h(
      'details',
      {
        class: 'task card',
        open,
        dataset: { id: t.id, status: t.status },
        ontoggle: (e) =>
          e.currentTarget.open ? this.expanded.add(t.id) : this.expanded.delete(t.id),
      },
      h(
        'summary',
        {},
        h('span', { class: `status ${t.status}` }, t.status),
        h('span', { class: 'task-prompt' }, t.prompt),
        h('span', { class: 'muted small' }, timeEl(t.created_at)),
      ),
      h(
        'div',
        { class: 'task-body' },
        h('p', { class: 'muted small', title: `task ${t.id}` }, timeline(t)),
        t.result ? h('div', { class: 'md result' }, renderMarkdown(t.result)) : null,
        t.error ? h('pre', { class: 'error code' }, t.error) : null,
        ACTIVE.has(t.status) && !t.result
          ? h(
              'p',
              { class: 'muted' },
              t.status === 'queued' ? 'Waiting for a worker…' : 'Working on it…',
            )
          : null,
        ACTIVE.has(t.status)
          ? h(
              'button',
              { type: 'button', class: 'danger', onclick: () => this.cancel(t) },
              t.status === 'running' ? 'Stop' : 'Cancel',
            )
          : null,
      ),
    );
    return h('li', {}, details);
  }

  async cancel(task) {
    try {
      await api(`/api/tasks/${encodeURIComponent(task.id)}`, { method: 'DELETE' });
      this.refresh();
    } catch (err) {
      this.banner(`Cannot cancel the task: ${err.message}`);
    }
  }
}

function timeline(t) {
  const parts = [`#${t.id.slice(0, 8)}`];
  if (t.started_at) parts.push(`started ${toDate(t.started_at).toLocaleTimeString()}`);
  const ms =
    t.duration_ms ??
    (t.finished_at && t.started_at ? toDate(t.finished_at) - toDate(t.started_at) : null);
  if (ms !== null && ms !== undefined) parts.push(`took ${(ms / 1000).toFixed(1)} s`);
  if (t.finished_at) parts.push(`finished ${toDate(t.finished_at).toLocaleTimeString()}`);
  const u = t.usage || {};
  const tokens = u.total_tokens ?? t.total_tokens;
  if (tokens) parts.push(`${tokens} tokens`);
  return parts.join(' · ');
}
