// Scheduled: prompts the assistant runs on a schedule (every 1h, a cron expression, or once at
// a time), fired by the heartbeat process; pause, resume, run now, remove; each one's runs.

import { api } from '../api.js';
import { clear, h, timeEl } from '../dom.js';
import { PolledView } from './polled.js';

const POLL_MS = 10_000;
const HINTS = {
  every: 'e.g. 30m, 1h, 1d (at least 1m)',
  cron: 'e.g. 0 8 * * 1-5 (minute hour day month weekday)',
  at: 'e.g. 2026-12-24T09:00',
};

export class CronView extends PolledView {
  constructor(root, { banner }) {
    super();
    this.root = root;
    this.banner = banner;
    this.timer = null;
    this.expanded = new Set();
    this.build();
  }

  build() {
    this.prompt = h('textarea', {
      id: 'cron-prompt',
      name: 'prompt',
      rows: '2',
      required: true,
      maxlength: '100000',
      placeholder: 'What should LocalGPT do each time? e.g. “List what is due this week”',
    });
    this.kind = h(
      'select',
      {
        name: 'kind',
        'aria-label': 'Schedule type',
        onchange: () => (this.when.placeholder = HINTS[this.kind.value]),
      },
      h('option', { value: 'every' }, 'every'),
      h('option', { value: 'cron' }, 'cron'),
      h('option', { value: 'at' }, 'once at'),
    );
    this.when = h('input', {
      type: 'text',
      name: 'when',
      required: true,
      'aria-label': 'When',
      placeholder: HINTS.every,
    });
    this.tz = h('input', {
      type: 'text',
      name: 'tz',
      'aria-label': 'Time zone',
      placeholder: 'time zone (default: local)',
    });
    this.name = h('input', {
      type: 'text',
      name: 'name',
      'aria-label': 'Name',
      placeholder: 'name',
    });
    this.formNote = h('p', { class: 'meta', role: 'status' });
    this.list = h('ol', { class: 'task-list', 'aria-label': 'Scheduled jobs' });
    clear(
      this.root,
      h(
        'div',
        { class: 'narrow' },
        h(
          'form',
          {
            class: 'card task-form cron-form',
            onsubmit: (e) => {
              e.preventDefault();
              this.add();
            },
          },
          h('label', { for: 'cron-prompt' }, 'New scheduled job'),
          this.prompt,
          h('div', { class: 'row cron-when' }, this.kind, this.when, this.tz, this.name),
          h(
            'div',
            { class: 'row' },
            h(
              'span',
              { class: 'muted small' },
              'Runs in the heartbeat process; missed runs run once at start.',
            ),
            h('button', { type: 'submit', class: 'primary' }, 'Schedule'),
          ),
          this.formNote,
        ),
        this.list,
      ),
    );
  }

  focus() {
    this.prompt.focus();
  }

  async add() {
    const body = { prompt: this.prompt.value.trim(), [this.kind.value]: this.when.value.trim() };
    if (this.tz.value.trim()) body.tz = this.tz.value.trim();
    if (this.name.value.trim()) body.name = this.name.value.trim();
    if (!body.prompt) return;
    this.formNote.className = 'meta';
    this.formNote.textContent = 'Scheduling…';
    try {
      const job = await api('/api/cron', { method: 'POST', body });
      this.prompt.value = this.when.value = this.name.value = '';
      this.formNote.textContent = `Scheduled “${job.name}”: next run ${job.next_run}.`;
      this.refresh();
    } catch (err) {
      this.formNote.className = 'meta error';
      this.formNote.textContent = `Could not schedule it: ${err.message}`;
    }
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      const { jobs } = await api('/api/cron');
      const runs = {};
      for (const id of this.expanded) {
        if (jobs.some((j) => j.id === id))
          runs[id] = (await api(`/api/cron/${encodeURIComponent(id)}`)).runs;
      }
      this.render(jobs, runs);
    } catch (err) {
      clear(this.list, h('li', { class: 'error' }, `Scheduled jobs unavailable: ${err.message}`));
    }
    this.pollIn(POLL_MS);
  }

  render(jobs, runs) {
    if (!jobs.length) {
      clear(this.list, h('li', { class: 'empty' }, 'No scheduled jobs yet.'));
      return;
    }
    clear(
      this.list,
      jobs.map((j) => this.item(j, runs[j.id])),
    );
  }

  item(j, runs) {
    const action = (label, path, cls = '') =>
      h('button', { type: 'button', class: cls, onclick: () => this.act(j, path, label) }, label);
    return h(
      'li',
      {},
      h(
        'details',
        {
          class: 'task card schedule',
          open: this.expanded.has(j.id),
          dataset: { id: j.id, status: j.status, name: j.name },
          ontoggle: (e) => {
            if (e.currentTarget.open) {
              if (!this.expanded.has(j.id)) {
                this.expanded.add(j.id);
                this.refresh();
              }
            } else this.expanded.delete(j.id);
          },
        },
        h(
          'summary',
          {},
          h(
            'span',
            { class: `status ${j.status === 'active' ? 'running' : 'cancelled'}` },
            j.status,
          ),
          h('span', { class: 'task-prompt' }, `${j.name}: ${j.prompt}`),
          h('span', { class: 'muted small' }, j.schedule),
        ),
        h(
          'div',
          { class: 'task-body' },
          h(
            'p',
            { class: 'muted small' },
            'next run ',
            j.next_run ? timeEl(j.next_run) : '—',
            ` · ${j.runs} run(s)`,
            j.skipped ? ` · ${j.skipped} skipped` : '',
            j.last_run ? ' · last ' : '',
            j.last_run ? timeEl(j.last_run) : '',
          ),
          h('p', {}, j.prompt),
          h(
            'div',
            { class: 'row' },
            j.status === 'finished'
              ? null
              : j.paused
                ? action('Resume', 'resume')
                : action('Pause', 'pause'),
            action('Run now', 'run'),
            action('Remove', '', 'danger'),
          ),
          runs && runs.length
            ? h(
                'ul',
                { class: 'plain small runs' },
                runs.map((r) =>
                  h(
                    'li',
                    {},
                    h('span', { class: `status ${r.state}` }, r.state),
                    ' ',
                    timeEl(r.created_at),
                    ` · #${r.id.slice(0, 8)}`,
                  ),
                ),
              )
            : null,
        ),
      ),
    );
  }

  async act(job, path, label) {
    if (label === 'Remove' && !confirm(`Remove the scheduled job “${job.name}”?`)) return;
    try {
      const url = `/api/cron/${encodeURIComponent(job.id)}${path ? `/${path}` : ''}`;
      await api(url, { method: label === 'Remove' ? 'DELETE' : 'POST' });
      this.refresh();
    } catch (err) {
      this.banner(`${label}: ${err.message}`);
    }
  }
}
