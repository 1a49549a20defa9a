// Jobs: every unit of background work from the one ledger (index jobs, tasks, heartbeat and
// scheduled runs), filtered by kind and state; a run's result, error, tokens and transcript;
// cancel what is queued, stop a run that is running.

import { api } from '../api.js';
import { clear, h, timeEl, toDate } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { PolledView } from './polled.js';

const ACTIVE = new Set(['queued', 'running']);
const RUNS = new Set(['task', 'heartbeat', 'cron']);
const POLL_ACTIVE_MS = 1500;
const POLL_IDLE_MS = 10_000;
const KINDS = ['all', 'runs', 'index', 'task', 'heartbeat', 'cron'];
const STATES = ['all', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

export class JobsView extends PolledView {
  constructor(root, { banner }) {
    super();
    this.root = root;
    this.banner = banner;
    this.timer = null;
    this.kind = 'all';
    this.state = 'all';
    this.expanded = new Set();
    this.details = new Map();
    this.build();
  }

  build() {
    this.counts = h('p', { class: 'meta', role: 'status' });
    this.list = h('ol', { class: 'task-list', 'aria-label': 'Jobs' });
    this.kindChips = this.chips(
      'Filter by kind',
      KINDS,
      () => this.kind,
      (v) => (this.kind = v),
    );
    this.stateChips = this.chips(
      'Filter by state',
      STATES,
      () => this.state,
      (v) => (this.state = v),
    );
    clear(
      this.root,
      h(
        'div',
        { class: 'narrow' },
        h('h2', {}, 'Background jobs'),
        this.counts,
        this.kindChips,
        this.stateChips,
        this.list,
      ),
    );
  }

  chips(label, values, get, set) {
    const group = h(
      'div',
      { class: 'chips', role: 'group', 'aria-label': label },
      values.map((v) =>
        h(
          'button',
          {
            type: 'button',
            class: 'chip',
            dataset: { value: v },
            'aria-pressed': String(v === get()),
            onclick: () => {
              set(v);
              for (const b of group.children)
                b.setAttribute('aria-pressed', String(b.dataset.value === get()));
              this.refresh();
            },
          },
          v,
        ),
      ),
    );
    return group;
  }

  reset() {
    this.expanded.clear();
    this.details.clear();
    super.reset();
  }

  focus() {
    this.kindChips.querySelector('button')?.focus();
  }

  async refresh() {
    clearTimeout(this.timer);
    let jobs = [];
    try {
      const query = new URLSearchParams({ limit: 100 });
      if (this.kind !== 'all') query.set('kind', this.kind);
      if (this.state !== 'all') query.set('state', this.state);
      const body = await api(`/api/jobs?${query}`);
      jobs = body.jobs;
      const c = body.counts || {};
      this.counts.textContent = `${c.queued || 0} queued · ${c.running || 0} running · ${
        c.failed || 0
      } failed · ${c.succeeded || 0} succeeded`;
      for (const id of this.expanded) {
        const job = jobs.find((j) => j.id === id);
        if (job && (ACTIVE.has(job.state) || !this.details.has(id))) await this.load(id);
      }
      this.render(jobs);
    } catch (err) {
      clear(this.list, h('li', { class: 'error' }, `Jobs unavailable: ${err.message}`));
    }
    const busy = jobs.some((j) => ACTIVE.has(j.state));
    this.pollIn(busy ? POLL_ACTIVE_MS : POLL_IDLE_MS);
  }

  async load(id) {
    this.details.set(id, await api(`/api/jobs/${encodeURIComponent(id)}`));
  }

  render(jobs) {
    if (!jobs.length) {
      clear(this.list, h('li', { class: 'empty' }, 'No jobs match.'));
      return;
    }
    clear(
      this.list,
      jobs.map((j) => this.item(j)),
    );
  }

  item(j) {
    const open = this.expanded.has(j.id);
    const body = h('div', { class: 'task-body' });
    const details = h(
      'details',
      {
        class: 'task card job',
        open,
        dataset: { id: j.id, state: j.state, kind: j.kind },
        ontoggle: async (e) => {
          if (!e.currentTarget.open) {
            this.expanded.delete(j.id);
            return;
          }
          this.expanded.add(j.id);
          try {
            await this.load(j.id);
            this.fill(body, this.details.get(j.id));
          } catch (err) {
            clear(body, h('p', { class: 'error' }, err.message));
          }
        },
      },
      h(
        'summary',
        {},
        h('span', { class: `status ${j.state}` }, j.state),
        h('span', { class: 'badge' }, j.kind),
        h('span', { class: 'task-prompt' }, j.title),
        h('span', { class: 'muted small' }, timeEl(j.created_at)),
      ),
      body,
    );
    if (open && this.details.has(j.id)) this.fill(body, this.details.get(j.id));
    return h('li', {}, details);
  }

  fill(body, job) {
    const stoppable = job.state === 'queued' || (job.state === 'running' && RUNS.has(job.kind));
    const transcript = h('div', { class: 'transcript' });
    clear(
      body,
      h('p', { class: 'muted small', title: `job ${job.id}` }, timeline(job)),
      job.result ? h('div', { class: 'md result' }, renderMarkdown(job.result)) : null,
      job.summary ? h('pre', { class: 'code small' }, JSON.stringify(job.summary)) : null,
      job.last_error ? h('pre', { class: 'error code' }, job.last_error) : null,
      h(
        'div',
        { class: 'row' },
        stoppable
          ? h(
              'button',
              { type: 'button', class: 'danger', onclick: () => this.cancel(job) },
              job.state === 'running' ? 'Stop' : 'Cancel',
            )
          : null,
        RUNS.has(job.kind) && job.session_id && job.started_at
          ? h(
              'button',
              {
                type: 'button',
                class: 'ghost',
                onclick: () => this.transcript(job.session_id, transcript),
              },
              'Transcript',
            )
          : null,
      ),
      transcript,
    );
  }

  async transcript(sessionId, into) {
    try {
      const session = await api(`/api/sessions/${encodeURIComponent(sessionId)}`);
      clear(
        into,
        session.messages
          .filter((m) => m.role === 'user' || m.role === 'assistant')
          .map((m) =>
            h(
              'div',
              { class: `msg ${m.role}` },
              h('div', { class: 'msg-body md' }, renderMarkdown(m.text || m.content || '')),
            ),
          ),
      );
    } catch (err) {
      clear(into, h('p', { class: 'muted' }, `No transcript: ${err.message}`));
    }
  }

  async cancel(job) {
    try {
      await api(`/api/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' });
      this.refresh();
    } catch (err) {
      this.banner(`Cannot cancel the job: ${err.message}`);
    }
  }
}

function timeline(j) {
  const parts = [`#${j.id.slice(0, 8)}`, `attempt ${j.attempts}`];
  if (j.started_at) parts.push(`started ${toDate(j.started_at).toLocaleTimeString()}`);
  if (j.duration_ms !== null && j.duration_ms !== undefined)
    parts.push(`took ${(j.duration_ms / 1000).toFixed(1)} s`);
  if (j.finished_at) parts.push(`finished ${toDate(j.finished_at).toLocaleTimeString()}`);
  if (j.usage && j.usage.total_tokens) parts.push(`${j.usage.total_tokens} tokens`);
  if (j.state === 'queued' && !j.delivered) parts.push('awaiting delivery to a worker');
  return parts.join(' · ');
}
