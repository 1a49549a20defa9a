// Settings: which model answers and which could (choosing one writes config.toml, read by the
// processes when they start), and the heartbeat: on or off, how often, its active hours and
// time zone (written to config.toml's [heartbeat], which the heartbeat re-reads every tick),
// run it now, and its checklist HEARTBEAT.md (edited in Notes, through the same write route).

import { api } from '../api.js';
import { clear, h, timeEl } from '../dom.js';

const DEFAULT_INTERVAL = '30m';

export class SettingsView {
  constructor(root, { banner }) {
    this.root = root;
    this.banner = banner;
    this.build();
  }

  build() {
    this.model = h('div', { class: 'model-now' }, h('p', { class: 'muted' }, 'Loading…'));
    this.models = h('div', { class: 'model-choices' });
    this.modelNote = h('div', { class: 'meta', role: 'status' });
    this.hbState = h('p', { class: 'muted small', role: 'status' });
    this.hbNote = h('div', { class: 'meta', role: 'status' });
    this.enabled = h('input', { type: 'checkbox', name: 'hb-enabled', id: 'hb-enabled' });
    this.interval = field('hb-interval', 'text', { placeholder: DEFAULT_INTERVAL, maxlength: 40 });
    this.start = field('hb-start', 'time');
    this.end = field('hb-end', 'time');
    this.zone = field('hb-zone', 'text', {
      placeholder: 'this machine’s zone',
      list: 'hb-zones',
      maxlength: 64,
      autocomplete: 'off',
    });
    const zones = h('datalist', { id: 'hb-zones' });
    for (const z of Intl.supportedValuesOf?.('timeZone') || [])
      zones.append(h('option', { value: z }));
    this.enabled.addEventListener('change', () => {
      this.interval.disabled = !this.enabled.checked;
    });
    clear(
      this.root,
      h(
        'div',
        { class: 'narrow settings' },
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'model-title' },
          h('div', { class: 'card-head' }, h('h2', { id: 'model-title' }, 'Model')),
          this.model,
          this.models,
          this.modelNote,
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'hb-title' },
          h(
            'div',
            { class: 'card-head' },
            h('h2', { id: 'hb-title' }, 'Heartbeat'),
            h(
              'button',
              { type: 'button', class: 'run-now', onclick: (e) => this.runNow(e.currentTarget) },
              'Run now',
            ),
          ),
          this.hbState,
          h(
            'form',
            {
              class: 'hb-form',
              oninput: () => (this.edited = true),
              onsubmit: (e) => {
                e.preventDefault();
                this.saveHeartbeat(e.submitter);
              },
            },
            h(
              'label',
              { class: 'switch', for: 'hb-enabled' },
              this.enabled,
              ' Run the heartbeat on a schedule',
            ),
            h(
              'div',
              { class: 'hb-grid' },
              labelled('Every', this.interval, 'e.g. 30m, 2h, 1h30m'),
              labelled('Active from', this.start, 'empty: all day'),
              labelled('Until', this.end, 'before this time'),
              labelled('Time zone', this.zone, 'IANA name, e.g. Europe/Paris'),
            ),
            zones,
            h(
              'div',
              { class: 'row' },
              h('button', { type: 'submit', class: 'primary' }, 'Save heartbeat settings'),
              h(
                'a',
                { href: '#notes?path=HEARTBEAT.md&edit=1', class: 'button-link' },
                'Edit HEARTBEAT.md',
              ),
            ),
            this.hbNote,
          ),
        ),
      ),
    );
  }

  show() {
    this.loadModels();
    this.loadHeartbeat();
  }

  reset() {
    this.build();
  }

  async loadModels() {
    let now;
    try {
      now = await api('/api/assistant');
      clear(
        this.model,
        h('p', {}, 'Answering now: ', h('strong', { class: 'mono current-model' }, now.model)),
        now.reason ? h('p', { class: 'muted small' }, `Chosen because ${now.reason}.`) : null,
        now.tiny ? h('p', { class: 'warning small' }, capitalised(now.warning)) : null,
      );
    } catch (err) {
      clear(this.model, h('p', { class: 'error' }, `The model is not set up: ${err.message}`));
    }
    try {
      this.renderChoices(await api('/api/models'), now?.model);
    } catch (err) {
      clear(this.models, h('p', { class: 'error' }, `Models unavailable: ${err.message}`));
    }
  }

  renderChoices(report, current) {
    const choices = [];
    const add = (name, label, detail) => choices.push({ name, label, detail });
    if (report.embedded) add(report.embedded.model, report.embedded.name, 'embedded, offline');
    for (const m of report.local || []) add(m.model, m.name, `${m.kind}, ${gb(m.size_bytes)}`);
    for (const m of report.ollama?.models || []) {
      if (m.chat) add(m.model, m.name, `Ollama${m.params ? `, ${m.params}` : ''}`);
    }
    for (const k of report.cloud || []) add(k.model, k.model, `${k.provider}, $${k.env} is set`);
    const configured = report.current?.source === 'config' || report.current?.source === 'env';
    clear(
      this.models,
      h('h3', { class: 'small muted' }, 'Available here'),
      h(
        'ul',
        { class: 'choices' },
        choices.map((c) =>
          h(
            'li',
            { class: c.name === current ? 'current' : '' },
            h('span', { class: 'mono' }, c.label),
            h('span', { class: 'muted small' }, ` ${c.detail}`),
            c.name === current
              ? h('span', { class: 'badge ok' }, 'in use')
              : h(
                  'button',
                  { type: 'button', class: 'small', onclick: () => this.useModel(c.name) },
                  'Use',
                ),
          ),
        ),
        configured
          ? h(
              'li',
              {},
              h('span', {}, 'Automatic'),
              h('span', { class: 'muted small' }, ' the best available, chosen at start'),
              h(
                'button',
                { type: 'button', class: 'small', onclick: () => this.useModel('auto') },
                'Use',
              ),
            )
          : null,
      ),
      report.catalogue?.length
        ? h(
            'p',
            { class: 'muted small' },
            'Better local models: ',
            h('code', {}, `localgpt models pull ${report.catalogue[0].id}`),
            ' (see ',
            h('code', {}, 'localgpt models list'),
            ').',
          )
        : null,
    );
  }

  async useModel(name) {
    clear(this.modelNote, 'Saving…');
    try {
      const result = await api('/api/models/use', { method: 'POST', body: { name } });
      clear(
        this.modelNote,
        [...result.messages, ...result.notes].map((line) => h('p', { class: 'small' }, line)),
      );
    } catch (err) {
      clear(this.modelNote, h('p', { class: 'error' }, err.message));
    }
  }

  async loadHeartbeat() {
    try {
      const s = await api('/api/heartbeat/status');
      if (!this.edited) this.fill(s.settings); // never over what the user is typing
      this.renderState(s);
    } catch (err) {
      clear(this.hbState, h('span', { class: 'error' }, `Heartbeat unavailable: ${err.message}`));
    }
  }

  fill(settings) {
    const off = /^\s*0+\s*$/.test(settings.interval || '');
    this.enabled.checked = !off;
    this.interval.value = off ? DEFAULT_INTERVAL : settings.interval;
    this.interval.disabled = off;
    this.start.value = settings.active_start || '';
    this.end.value = settings.active_end === '24:00' ? '' : settings.active_end || '';
    this.zone.value = settings.timezone || '';
  }

  renderState(s) {
    clear(
      this.hbState,
      s.config_error
        ? h('span', { class: 'error' }, s.config_error)
        : [
            h('span', { class: `badge ${s.enabled ? 'ok' : 'off'}` }, s.enabled ? 'on' : 'off'),
            s.enabled && s.next_due ? [' · next run ', timeEl(s.next_due)] : '',
            ` · ${s.active_hours || `all day · ${s.timezone || 'local time'}`}`,
            h('br'),
            `Saved in ${s.config_file} ([heartbeat]).`,
          ],
    );
  }

  async saveHeartbeat(button) {
    const body = {
      interval: this.enabled.checked ? this.interval.value.trim() || DEFAULT_INTERVAL : '0',
      active_start: this.start.value,
      active_end: this.start.value && !this.end.value ? '24:00' : this.end.value,
      timezone: this.zone.value.trim(),
    };
    if (button) button.disabled = true;
    clear(this.hbNote, 'Saving…');
    try {
      const result = await api('/api/heartbeat/settings', { method: 'PUT', body });
      this.edited = false;
      clear(
        this.hbNote,
        h(
          'p',
          { class: 'ok-text small' },
          result.changed.length
            ? `Saved: ${result.changed.join('; ')}. The heartbeat applies it within 30 seconds.`
            : 'Nothing changed.',
        ),
      );
      this.loadHeartbeat();
    } catch (err) {
      clear(this.hbNote, h('p', { class: 'error', role: 'alert' }, err.message));
    } finally {
      if (button) button.disabled = false;
    }
  }

  async runNow(button) {
    button.disabled = true;
    clear(this.hbNote, 'Considering a run now…');
    try {
      const d = await api('/api/heartbeat/run', { method: 'POST' });
      clear(
        this.hbNote,
        h(
          'p',
          { class: d.enqueued ? 'ok-text small' : 'small' },
          d.enqueued
            ? 'A heartbeat run is queued for a worker; the Heartbeat view shows its outcome.'
            : `Not run: ${d.reason}`,
        ),
      );
      this.loadHeartbeat();
    } catch (err) {
      clear(this.hbNote, h('p', { class: 'error' }, `Cannot run the heartbeat: ${err.message}`));
    } finally {
      button.disabled = false;
    }
  }
}

function field(id, type, props = {}) {
  return h('input', { id, name: id, type, ...props });
}

function labelled(label, input, hint) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: input.id }, label),
    input,
    h('span', { class: 'muted small' }, hint),
  );
}

function capitalised(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function gb(bytes) {
  return typeof bytes === 'number' ? `${(bytes / 1e9).toFixed(1)} GB` : 'size unknown';
}
