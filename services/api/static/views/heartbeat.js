// Heartbeat: is it on, is the active window open, when is it next due, how did the last runs
// go, and the scheduler's recent decisions (why it ran or skipped) and alerts.

import { api } from '../api.js';
import { clear, h, timeEl } from '../dom.js';
import { PolledView } from './polled.js';

const POLL_MS = 15_000;

export class HeartbeatView extends PolledView {
  constructor(root, { banner }) {
    super();
    this.root = root;
    this.banner = banner;
    this.timer = null;
    this.build();
  }

  build() {
    this.summary = h('div', { class: 'hb-summary' }, h('p', { class: 'muted' }, 'Loading…'));
    this.alert = h('div');
    this.decisions = h('div', { class: 'card' });
    clear(this.root, h('div', { class: 'narrow' }, this.summary, this.alert, this.decisions));
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      this.render(await api('/api/heartbeat/status'));
    } catch (err) {
      clear(
        this.summary,
        h('p', { class: 'error card' }, `Heartbeat status unavailable: ${err.message}`),
      );
    }
    this.pollIn(POLL_MS);
  }

  render(s) {
    const stat = (label, value, note) =>
      h(
        'div',
        { class: 'stat card' },
        h('div', { class: 'stat-label' }, label),
        h('div', { class: 'stat-value' }, value),
        note ? h('div', { class: 'muted small' }, note) : null,
      );
    const last = s.last_run;
    clear(
      this.summary,
      s.config_error
        ? h(
            'p',
            { class: 'error card' },
            `The [heartbeat] configuration has a problem: ${s.config_error}`,
          )
        : null,
      h(
        'div',
        { class: 'stat-row' },
        stat(
          'Heartbeat',
          h(
            'span',
            { class: `badge ${s.enabled ? 'ok' : 'off'}` },
            s.enabled ? 'enabled' : 'disabled',
          ),
          s.interval ? `every ${s.interval}` : null,
        ),
        stat(
          'Active window',
          h(
            'span',
            { class: `badge ${s.window_open ? 'ok' : 'warn'}` },
            s.window_open ? 'open' : 'closed',
          ),
          [
            s.active_hours || 'all day',
            s.timezone ? ` · ${s.timezone}` : '',
            !s.window_open && s.window_opens_at ? ' · opens ' : '',
            !s.window_open && s.window_opens_at ? timeEl(s.window_opens_at) : '',
          ],
        ),
        stat(
          'Next due',
          s.next_due ? timeEl(s.next_due) : '—',
          s.enabled && !s.next_due ? 'not scheduled yet: is the heartbeat service running?' : null,
        ),
        stat(
          'Last run',
          last ? timeEl(last.at) : 'never',
          last ? outcomeText(last.outcome ?? 'running', last.detail) : null,
        ),
      ),
      s.last_outcome && last && s.last_outcome.decision_id !== last.decision_id
        ? h(
            'p',
            { class: 'muted small' },
            'Last finished run: ',
            outcomeText(s.last_outcome.outcome, s.last_outcome.detail),
            ' ',
            timeEl(s.last_outcome.at),
          )
        : null,
    );
    clear(
      this.alert,
      s.last_alert
        ? h(
            'section',
            { class: 'card alert', 'aria-label': 'Last alert' },
            h('div', { class: 'card-head' }, h('h2', {}, 'Last alert'), timeEl(s.last_alert.at)),
            h('p', { class: 'alert-text' }, s.last_alert.text || s.last_alert.preview),
            s.last_alert.citations && s.last_alert.citations.length
              ? h('p', { class: 'muted small' }, 'Cites: ', s.last_alert.citations.join(', '))
              : null,
          )
        : null,
    );
    const rows = s.decisions || [];
    clear(
      this.decisions,
      h(
        'div',
        { class: 'card-head' },
        h('h2', {}, 'Recent decisions'),
        h('span', { class: 'muted small' }, `${rows.length} shown`),
      ),
      rows.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'decisions' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['When', 'Decision', 'Reason', 'Outcome'].map((c) =>
                    h('th', { scope: 'col' }, c),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                rows.map((d) =>
                  h(
                    'tr',
                    { dataset: { kind: d.kind } },
                    h(
                      'td',
                      {},
                      timeEl(d.at),
                      d.repeats > 1 ? h('span', { class: 'muted small' }, ` ×${d.repeats}`) : null,
                    ),
                    h(
                      'td',
                      {},
                      h('span', { class: `badge ${kindClass(d.kind)}` }, d.kind),
                      d.manual ? h('span', { class: 'muted small' }, ' manual') : null,
                    ),
                    h(
                      'td',
                      {},
                      d.reason || '',
                      d.tasks?.length
                        ? h('div', { class: 'muted small' }, `tasks: ${d.tasks.join(', ')}`)
                        : null,
                    ),
                    h('td', {}, d.outcome ? outcomeText(d.outcome) : '—'),
                  ),
                ),
              ),
            ),
          )
        : h(
            'p',
            { class: 'muted' },
            'No decisions yet: the heartbeat has not been considered since it started.',
          ),
    );
  }
}

// Decision kinds and outcomes as shared/heartbeat/decide.py and run.py name them.
function kindClass(kind) {
  return { enqueued: 'ok', busy: 'warn' }[kind] || 'off';
}

function outcomeText(outcome, detail) {
  const cls = outcome.startsWith('ok') ? 'ok' : { alert: 'warn', failed: 'bad' }[outcome] || 'off';
  return h('span', {}, h('span', { class: `badge ${cls}` }, outcome), detail ? ` ${detail}` : '');
}
