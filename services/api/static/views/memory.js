// Memory: search with citations, a line-numbered file viewer that highlights the cited range,
// and the index's health, polled while the view is open.

import { api } from '../api.js';
import { ago, bytes, citationButton, clear, h, isoDay, timeEl } from '../dom.js';
import { PolledView } from './polled.js';

const STATS_EVERY_MS = 3000;
const CONTEXT_LINES = 200; // lines shown around a cited range
const WHOLE_FILE_LINES = 2000;

export class MemoryView extends PolledView {
  constructor(root, { banner }) {
    super();
    this.root = root;
    this.banner = banner;
    this.timer = null;
    this.file = null; // {path, from, to, total, start, end}
    this.build();
  }

  build() {
    this.query = h('input', {
      type: 'search',
      name: 'q',
      placeholder: 'Search your memory…',
      'aria-label': 'Search memory',
      autocomplete: 'off',
      maxlength: '2000',
      required: true,
    });
    this.meta = h('p', { class: 'meta', role: 'status' });
    this.results = h('ol', { class: 'results', 'aria-label': 'Search results' });
    this.stats = h('dl', { class: 'stats-grid' });
    this.statsNote = h('div', { class: 'stats-note' });
    this.reindexState = h('span', { class: 'muted', role: 'status' });
    this.pathInput = h('input', {
      type: 'text',
      name: 'path',
      placeholder: 'MEMORY.md',
      'aria-label': 'Workspace file path',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.viewerHead = h(
      'div',
      { class: 'viewer-head' },
      h('span', { class: 'muted' }, 'Open a file, or a citation from a search result or a chat.'),
    );
    this.lines = h('div', {
      class: 'lines',
      role: 'region',
      'aria-label': 'File contents',
      tabindex: '0',
    });

    const daily = `memory/${isoDay()}.md`;
    clear(
      this.root,
      h(
        'div',
        { class: 'memory-layout' },
        h(
          'div',
          { class: 'col col-left' },
          h(
            'div',
            { class: 'search-block' },
            h(
              'form',
              {
                class: 'searchbar',
                role: 'search',
                onsubmit: (e) => {
                  e.preventDefault();
                  this.search();
                },
              },
              this.query,
              h('button', { type: 'submit', class: 'primary' }, 'Search'),
            ),
            this.meta,
            this.results,
          ),
          h(
            'section',
            { class: 'card stats', 'aria-labelledby': 'stats-title' },
            h(
              'div',
              { class: 'card-head' },
              h('h2', { id: 'stats-title' }, 'Index'),
              this.reindexState,
              h(
                'button',
                { type: 'button', class: 'ghost', onclick: () => this.reindex() },
                'Reindex',
              ),
            ),
            this.stats,
            this.statsNote,
          ),
        ),
        h(
          'section',
          { class: 'col viewer card', 'aria-label': 'File viewer' },
          h(
            'form',
            {
              class: 'pathbar',
              onsubmit: (e) => {
                e.preventDefault();
                this.openFile(this.pathInput.value.trim());
              },
            },
            this.pathInput,
            h('button', { type: 'submit' }, 'Open'),
          ),
          h(
            'div',
            { class: 'chips' },
            ['MEMORY.md', 'HEARTBEAT.md', daily].map((path) =>
              h(
                'button',
                { type: 'button', class: 'chip', onclick: () => this.openFile(path) },
                path,
              ),
            ),
          ),
          this.viewerHead,
          this.lines,
        ),
      ),
    );
  }

  focus() {
    this.query.focus();
    this.query.select();
  }

  async search() {
    const q = this.query.value.trim();
    if (!q) return;
    this.meta.textContent = 'Searching…';
    this.meta.className = 'meta';
    try {
      const body = await api(`/api/memory/search?${new URLSearchParams({ q })}`);
      this.renderResults(body);
    } catch (err) {
      clear(this.results);
      this.meta.textContent = `Search failed: ${err.message}`;
      this.meta.className = 'meta error';
    }
  }

  renderResults(body) {
    const n = body.results.length;
    clear(
      this.meta,
      `${n} result${n === 1 ? '' : 's'} in ${Math.round(body.took_ms)} ms · `,
      h(
        'span',
        {
          class: `badge ${body.mode === 'hybrid' ? 'ok' : 'warn'}`,
          title: body.mode === 'hybrid' ? 'keyword + meaning' : 'keywords only',
        },
        body.mode,
      ),
      body.warnings.map((w) => h('span', { class: 'warning' }, w)),
    );
    if (!n) {
      clear(this.results, h('li', { class: 'empty' }, 'Nothing in memory matches that.'));
      return;
    }
    const terms = body.query
      .toLowerCase()
      .split(/\W+/)
      .filter((t) => t.length > 2);
    clear(
      this.results,
      body.results.map((r) =>
        h(
          'li',
          { class: 'result' },
          h(
            'div',
            { class: 'result-head' },
            citationButton(r.citation),
            h(
              'span',
              {
                class: 'score',
                title: `keyword ${r.keyword_score.toFixed(2)} · meaning ${r.vector_score.toFixed(2)}`,
              },
              h('meter', { min: 0, max: 1, value: r.score, 'aria-label': 'score' }),
              ` ${r.score.toFixed(2)}`,
            ),
          ),
          r.heading ? h('div', { class: 'heading' }, r.heading) : null,
          h('p', { class: 'snippet' }, highlight(r.snippet, terms)),
        ),
      ),
    );
  }

  /** The index stats, then again every STATS_EVERY_MS while shown (PolledView). */
  async refresh() {
    clearTimeout(this.timer);
    try {
      this.renderStats(await api('/api/memory/stats'));
    } catch (err) {
      clear(this.statsNote, h('p', { class: 'error' }, `Index stats unavailable: ${err.message}`));
    }
    this.pollIn(STATS_EVERY_MS);
  }

  renderStats(s) {
    const skipped = Object.entries(s.files_skipped || {});
    const item = (label, value, cls = '') =>
      h('div', {}, h('dt', {}, label), h('dd', { class: cls }, value));
    clear(
      this.stats,
      item('Files indexed', `${s.files_indexed} / ${s.files_on_disk}`),
      item('Pending', String(s.files_pending), s.files_pending ? 'warn' : ''),
      item('Failed jobs', String(s.jobs_failed), s.jobs_failed ? 'bad' : ''),
      item(
        'Chunks',
        `${s.chunks}${s.chunks_without_vector ? ` (${s.chunks_without_vector} without vector)` : ''}`,
      ),
      item(
        'Queue',
        `${s.queue_depth} queued${s.scheduled_retries ? `, ${s.scheduled_retries} retrying` : ''}`,
      ),
      item('Last indexed', timeEl(s.last_indexed_at)),
      item('Last reconcile', timeEl(s.last_reconcile_at)),
      item('Last file event', timeEl(s.last_watcher_event_at)),
      item('Index size', bytes(s.db_bytes)),
      item(
        'Model',
        h(
          'span',
          { class: 'mono', title: s.embedding_model || '' },
          (s.embedding_model || '—').split('@')[0].split('/').pop(),
        ),
      ),
    );
    clear(
      this.statsNote,
      s.pending?.length
        ? details(
            `Pending files (${s.pending.length})`,
            s.pending.map((p) => h('li', {}, fileLink(this, p))),
          )
        : null,
      skipped.length
        ? details(
            `Skipped files (${skipped.length})`,
            skipped.map(([p, why]) => h('li', {}, h('span', { class: 'mono' }, p), ` — ${why}`)),
          )
        : null,
      s.recent_failures?.length
        ? details(
            `Recent failures (${s.recent_failures.length})`,
            s.recent_failures.map((f) =>
              h(
                'li',
                { class: 'error' },
                `${f.kind} · ${f.attempts} attempt${f.attempts === 1 ? '' : 's'} · ${ago(f.finished_at)}: ${f.last_error}`,
              ),
            ),
            true,
          )
        : null,
      s.model_mismatch
        ? h(
            'p',
            { class: 'warning' },
            `The index was built with ${s.index_embedding_model}; reindex to rebuild its vectors for ${s.embedding_model}.`,
          )
        : null,
      h('p', { class: 'muted small' }, `Workspace: ${s.workspace}`),
    );
  }

  async reindex() {
    this.reindexState.textContent = 'reindex queued…';
    try {
      const { job_id: id } = await api('/api/memory/reindex', {
        method: 'POST',
        body: { force: false },
      });
      for (let i = 0; i < 600; i++) {
        const job = await api(`/api/jobs/${encodeURIComponent(id)}`);
        this.reindexState.textContent =
          job.state === 'failed'
            ? `reindex failed: ${job.last_error}`
            : `reindex ${job.state === 'succeeded' ? 'done' : job.state}`;
        if (!['queued', 'running'].includes(job.state)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      this.refresh();
    } catch (err) {
      this.reindexState.textContent = `reindex failed: ${err.message}`;
    }
  }

  /** Show a workspace file, scrolled to and highlighting lines start..end if given. */
  async openFile(path, start = null, end = start) {
    if (!path) return;
    this.pathInput.value = path;
    const from = start ? Math.max(1, start - CONTEXT_LINES) : 1;
    const count = start ? end - from + 1 + CONTEXT_LINES : WHOLE_FILE_LINES;
    clear(this.viewerHead, h('span', { class: 'muted' }, `Opening ${path}…`));
    try {
      const body = await api(
        `/api/memory/file?${new URLSearchParams({ path, from, lines: count })}`,
      );
      this.file = {
        path: body.path,
        start,
        end,
        total: body.total_lines,
        from: body.start_line,
        to: body.end_line,
      };
      this.renderFile(body.text);
    } catch (err) {
      this.file = null;
      clear(this.lines);
      if (err.status === 404 && /\.md$/i.test(path)) this.offerCreate(path);
      else
        clear(this.viewerHead, h('p', { class: 'error' }, `Cannot open ${path}: ${err.message}`));
    }
  }

  /** A note that is not there yet (today's log before anything was written): offer to start
   * it rather than show an error. */
  offerCreate(path) {
    const daily = path === `memory/${isoDay()}.md`;
    clear(
      this.viewerHead,
      h('span', { class: 'muted' }, `${path} does not exist yet. `),
      h(
        'button',
        {
          type: 'button',
          class: 'small create-note',
          onclick: async (e) => {
            e.currentTarget.disabled = true;
            try {
              await api('/api/memory/note', {
                method: 'PUT',
                body: {
                  path,
                  text: `# ${path.split('/').pop().slice(0, -3)}\n\n`,
                  base_version: null,
                },
              });
              location.hash = `notes?${new URLSearchParams({ path, edit: '1' })}`;
            } catch (err) {
              clear(
                this.viewerHead,
                h('p', { class: 'error' }, `Cannot create ${path}: ${err.message}`),
              );
            }
          },
        },
        daily ? 'Start today’s log' : 'Create it',
      ),
    );
  }

  renderFile(text) {
    const { path, start, end, total, from, to } = this.file;
    clear(
      this.viewerHead,
      h('span', { class: 'mono path' }, path),
      h(
        'span',
        { class: 'muted' },
        start ? ` lines ${start}–${end} of ${total}` : ` ${total} line${total === 1 ? '' : 's'}`,
      ),
      /\.md$/i.test(path)
        ? h(
            'a',
            { class: 'edit-link small', href: `#notes?${new URLSearchParams({ path })}` },
            'Open in Notes',
          )
        : null,
    );
    const rows = text === '' && total === 0 ? [] : text.split('\n');
    const more = (label, onclick) =>
      h('button', { type: 'button', class: 'ghost more', onclick }, label);
    clear(
      this.lines,
      from > 1 ? more(`Show lines 1–${from - 1}`, () => this.expand(1, this.file.to)) : null,
      rows.map((line, i) => {
        const n = from + i;
        const hit = start && n >= start && n <= end;
        return h(
          'div',
          { class: hit ? 'line hit' : 'line', dataset: { n } },
          h('span', { class: 'ln', 'aria-hidden': 'true' }, String(n)),
          h('span', { class: 'tx' }, line || ' '),
        );
      }),
      to < total
        ? more(`Show lines ${to + 1}–${total}`, () => this.expand(this.file.from, total))
        : null,
    );
    const first = this.lines.querySelector('.hit');
    if (first) {
      // The viewer may sit below the results on a phone: bring it, then the cited lines, in view.
      first.scrollIntoView({ block: 'center' });
      this.lines.closest('.viewer').scrollIntoView({ block: 'nearest' });
    } else {
      this.lines.scrollTop = 0;
    }
  }

  async expand(from, to) {
    const { path, start, end } = this.file;
    try {
      const body = await api(
        `/api/memory/file?${new URLSearchParams({ path, from, lines: to - from + 1 })}`,
      );
      this.file = {
        path,
        start,
        end,
        total: body.total_lines,
        from: body.start_line,
        to: body.end_line,
      };
      const top = this.lines.scrollTop;
      this.renderFile(body.text);
      if (!start) this.lines.scrollTop = top;
    } catch (err) {
      this.banner(`Cannot load more of ${path}: ${err.message}`);
    }
  }
}

function details(title, items, open = false) {
  return h('details', { open }, h('summary', {}, title), h('ul', { class: 'plain' }, items));
}

function fileLink(view, path) {
  return h(
    'a',
    {
      href: '#memory',
      class: 'mono',
      onclick: (e) => {
        e.preventDefault();
        view.openFile(path);
      },
    },
    path,
  );
}

/** The snippet as text nodes, with query words wrapped in <mark>. */
function highlight(text, terms) {
  if (!terms.length) return text;
  const pattern = new RegExp(
    `(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`,
    'gi',
  );
  return text.split(pattern).map((part, i) => (i % 2 ? h('mark', {}, part) : part));
}
