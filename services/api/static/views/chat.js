// Chat: a sessions list (searchable, renamable, exportable), replies streamed over SSE and
// rendered as markdown, tool calls folded away with memory hits' citations clickable, and turns
// that failed or were stopped kept in the conversation with their error.

import { api, send, stream } from '../api.js';
import { citationButton, clear, copyButton, download, h, timeEl } from '../dom.js';
import { renderMarkdown } from '../markdown.js';

const MAX_TOOL_TEXT = 4000;
const SEARCH_DELAY_MS = 250;

export class ChatView {
  constructor(root, { banner }) {
    this.root = root;
    this.banner = banner;
    this.sessionId = null;
    this.controller = null;
    this.build();
  }

  build() {
    this.list = h('ul', { class: 'session-list', 'aria-label': 'Sessions' });
    this.listNote = h('p', { class: 'muted small' });
    this.search = h('input', {
      type: 'search',
      name: 'session-search',
      class: 'session-search',
      placeholder: 'Search chats…',
      'aria-label': 'Search chats',
      autocomplete: 'off',
      maxlength: '200',
      oninput: () => {
        clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => this.loadSessions(), SEARCH_DELAY_MS);
      },
    });
    this.messages = h('div', {
      class: 'messages',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': 'Conversation',
    });
    this.input = h('textarea', {
      name: 'message',
      rows: '1',
      placeholder: 'Message LocalGPT…',
      title: 'Enter sends, Shift+Enter starts a new line',
      'aria-label': 'Message',
      onkeydown: (e) => this.onKey(e),
      oninput: () => this.autosize(),
    });
    this.sendButton = h('button', { type: 'submit', class: 'primary' }, 'Send');
    this.stopButton = h(
      'button',
      { type: 'button', class: 'danger', hidden: true, onclick: () => this.controller?.abort() },
      'Stop',
    );
    this.title = h('h2', { class: 'chat-title' }, 'New chat');
    this.modelBadge = h('span', { class: 'model-badge muted small' });
    this.renameButton = h(
      'button',
      { type: 'button', class: 'ghost small', hidden: true, onclick: () => this.startRename() },
      'Rename',
    );
    this.exportButton = h(
      'button',
      {
        type: 'button',
        class: 'ghost small',
        hidden: true,
        title: 'Download this conversation as a markdown file',
        onclick: () => this.exportSession(),
      },
      'Export',
    );
    this.sidebar = h(
      'aside',
      { class: 'sessions', 'aria-label': 'Chat sessions' },
      h(
        'button',
        { type: 'button', class: 'primary wide', onclick: () => this.newChat() },
        '+ New chat',
      ),
      this.search,
      this.list,
      this.listNote,
    );
    clear(
      this.root,
      h(
        'div',
        { class: 'chat-layout' },
        this.sidebar,
        h(
          'div',
          { class: 'conversation' },
          h(
            'div',
            { class: 'chat-head' },
            h(
              'button',
              {
                type: 'button',
                class: 'ghost sessions-toggle',
                'aria-expanded': 'false',
                onclick: (e) => this.toggleSessions(e.currentTarget),
              },
              'Sessions',
            ),
            this.title,
            this.renameButton,
            this.exportButton,
            this.modelBadge,
          ),
          this.messages,
          h(
            'form',
            {
              class: 'composer',
              onsubmit: (e) => {
                e.preventDefault();
                this.send();
              },
            },
            this.input,
            this.stopButton,
            this.sendButton,
          ),
        ),
      ),
    );
    this.showEmpty();
  }

  show() {
    this.loadSessions();
    this.loadAssistant();
  }

  /** Which model answers and why, the prompt it gets, and a plain warning for the tiny one. */
  async loadAssistant() {
    try {
      const a = await api('/api/assistant');
      this.modelBadge.textContent = `${a.model} · ${a.profile.name} prompt`;
      this.modelBadge.title = [a.reason && `Chosen because ${a.reason}`, a.profile.reason]
        .filter(Boolean)
        .join('\n');
      this.modelBadge.classList.toggle('warn', Boolean(a.tiny));
      if (a.tiny) {
        clear(
          this.modelBadge,
          `${a.model} · ${a.profile.name} prompt: the tiny offline model, often wrong. Better: `,
          h('code', {}, a.better),
        );
        this.modelBadge.title = `${a.warning}\n${this.modelBadge.title}`;
      }
    } catch {
      this.modelBadge.textContent = '';
      this.modelBadge.classList.remove('warn');
    }
  }

  reset() {
    this.controller?.abort();
    this.sessionId = null;
    this.build();
  }

  focus() {
    this.input.focus();
  }

  toggleSessions(button) {
    const open = this.sidebar.classList.toggle('open');
    button.setAttribute('aria-expanded', String(open));
  }

  showEmpty() {
    clear(
      this.messages,
      h(
        'div',
        { class: 'empty-chat' },
        h('p', {}, 'Ask anything. LocalGPT searches your markdown memory and cites what it used.'),
        h(
          'p',
          { class: 'muted small' },
          'Enter sends · Shift+Enter new line · Esc stops · / focuses the input · 1–8 switch views',
        ),
      ),
    );
  }

  async loadSessions() {
    const q = this.search.value.trim();
    try {
      const { sessions } = await api(`/api/sessions${q ? `?${new URLSearchParams({ q })}` : ''}`);
      this.listNote.textContent = sessions.length
        ? ''
        : q
          ? `No chat mentions “${q}”.`
          : 'No sessions yet.';
      clear(
        this.list,
        sessions.map((s) =>
          h(
            'li',
            { class: s.id === this.sessionId ? 'active' : '' },
            h(
              'a',
              {
                href: '#chat',
                class: 'session',
                'aria-current': s.id === this.sessionId ? 'true' : null,
                onclick: (e) => {
                  e.preventDefault();
                  this.openSession(s.id);
                },
              },
              h('span', { class: 'session-title' }, s.title || 'Untitled'),
              h('span', { class: 'muted small' }, timeEl(s.updated_at), ` · ${s.messages} msg`),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'icon',
                title: 'Delete this session',
                'aria-label': `Delete session ${s.title || s.id}`,
                onclick: () => this.deleteSession(s),
              },
              '×',
            ),
          ),
        ),
      );
    } catch (err) {
      this.listNote.textContent = `Sessions unavailable: ${err.message}`;
    }
  }

  newChat() {
    if (this.controller) return;
    this.setSession(null, 'New chat');
    this.showEmpty();
    this.sidebar.classList.remove('open');
    this.loadSessions();
    this.input.focus();
  }

  /** The open session (null: a new chat) and its title; rename and export need an id. */
  setSession(id, title) {
    this.sessionId = id;
    this.title.textContent = title || 'Untitled';
    this.renameButton.hidden = !id;
    this.exportButton.hidden = !id;
  }

  async openSession(id) {
    if (this.controller) return;
    this.sidebar.classList.remove('open');
    try {
      const session = await api(`/api/sessions/${encodeURIComponent(id)}`);
      this.setSession(id, session.title);
      this.renderHistory(session.messages || []);
      this.loadSessions();
    } catch (err) {
      this.banner(`Cannot open the session: ${err.message}`);
    }
  }

  async deleteSession(session) {
    const name = session.title || session.id;
    const question =
      `Delete the chat “${name}”? It leaves this list; its transcript is archived ` +
      `on this machine (sessions/${session.id}.jsonl.deleted.*), not destroyed.`;
    if (!confirm(question)) return;
    try {
      await api(`/api/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
      if (session.id === this.sessionId) this.newChat();
      else this.loadSessions();
    } catch (err) {
      this.banner(`Cannot delete the session: ${err.message}`);
    }
  }

  /** Edit the title in place: Enter saves, Escape (or leaving the field) keeps the old one. */
  startRename() {
    if (!this.sessionId || this.titleInput) return;
    const old = this.title.textContent;
    const input = h('input', {
      type: 'text',
      class: 'title-input',
      value: old,
      maxlength: '200',
      'aria-label': 'Chat title',
    });
    const done = async (save) => {
      if (!this.titleInput) return;
      this.titleInput = null;
      const title = input.value.trim();
      input.replaceWith(this.title);
      this.renameButton.hidden = false;
      if (!save || !title || title === old) return;
      this.title.textContent = title;
      try {
        const body = await api(`/api/sessions/${encodeURIComponent(this.sessionId)}`, {
          method: 'PATCH',
          body: { title },
        });
        this.title.textContent = body.title;
        this.loadSessions();
      } catch (err) {
        this.title.textContent = old;
        this.banner(`Cannot rename the chat: ${err.message}`);
      }
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        done(true);
      } else if (e.key === 'Escape') {
        done(false);
      }
    });
    input.addEventListener('blur', () => done(true));
    this.titleInput = input;
    this.title.replaceWith(input);
    this.renameButton.hidden = true;
    input.focus();
    input.select();
  }

  async exportSession() {
    if (!this.sessionId) return;
    try {
      const response = await send(`/api/sessions/${encodeURIComponent(this.sessionId)}/export`);
      const name =
        /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '')?.[1] ||
        `${this.sessionId}.md`;
      download(await response.blob(), name);
    } catch (err) {
      this.banner(`Cannot export the chat: ${err.message}`);
    }
  }

  renderHistory(messages) {
    clear(this.messages);
    let turn = null;
    const turns = [];
    const pending = []; // tool blocks waiting for their results, in call order
    for (const m of messages) {
      const text = contentText(m.content);
      if (m.role === 'user') {
        turn = null;
        const { typed, recalled } = splitRecall(text);
        this.messages.append(userBubble(m.text ?? typed));
        if (recalled.length) this.messages.append(recallBlock(recalled));
      } else if (m.role === 'assistant') {
        if (!turn) turns.push((turn = this.addTurn()));
        if (m.error) turn.fail(m.error);
        else if (m.interrupted) turn.note('Stopped.');
        if (text) turn.addText(text);
        if (m.sources?.length) turn.showSources(m.sources);
        if (m.notice) turn.showNotice(m.notice);
        for (const call of m.tool_calls || []) {
          const fn = call.function || call;
          const block = turn.startTool(fn.name, fn.arguments);
          block.callId = call.id;
          pending.push(block);
        }
      } else if (m.role === 'tool') {
        if (!turn) turns.push((turn = this.addTurn()));
        // Results answer calls in order; match by id when the transcript has one.
        let i = pending.findIndex((b) => m.tool_call_id && b.callId === m.tool_call_id);
        if (i < 0 && pending.length) i = 0;
        const block = i >= 0 ? pending.splice(i, 1)[0] : turn.startTool(m.name || 'tool', null);
        block.finish(parseMaybe(unframe(text)));
      }
    }
    for (const t of turns) {
      t.flush();
      t.showActions();
    }
    this.scrollToEnd(true);
  }

  addTurn() {
    const turn = new AssistantTurn();
    this.messages.append(turn.el);
    return turn;
  }

  onKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === 'Escape' && this.controller) {
      this.controller.abort();
    }
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  scrollToEnd(force = false) {
    const box = this.messages;
    if (force || box.scrollHeight - box.scrollTop - box.clientHeight < 120)
      box.scrollTop = box.scrollHeight;
  }

  async send() {
    const message = this.input.value.trim();
    if (!message || this.controller) return;
    if (this.messages.querySelector('.empty-chat')) clear(this.messages);
    this.messages.append(userBubble(message));
    this.input.value = '';
    this.autosize();
    const turn = this.addTurn();
    turn.streaming(true);
    this.scrollToEnd(true);
    this.controller = new AbortController();
    this.sendButton.disabled = true;
    this.stopButton.hidden = false;
    if (!this.sessionId) this.title.textContent = message.slice(0, 80);
    const fresh = !this.sessionId;
    const body = { message };
    if (this.sessionId) body.session_id = this.sessionId;
    try {
      await stream(
        '/api/chat/stream',
        body,
        (event, data) => {
          this.onEvent(turn, event, data);
          this.scrollToEnd();
        },
        this.controller.signal,
      );
      if (!turn.finished) turn.fail('The reply ended early (the connection closed before “done”).');
    } catch (err) {
      if (err.name === 'AbortError') turn.note('Stopped.');
      else turn.fail(err.message);
    } finally {
      turn.streaming(false);
      turn.showActions();
      if (fresh && this.sessionId) this.setSession(this.sessionId, this.title.textContent);
      this.controller = null;
      this.sendButton.disabled = false;
      this.stopButton.hidden = true;
      this.loadSessions();
      this.input.focus();
    }
  }

  onEvent(turn, event, data) {
    if (event === 'session')
      this.sessionId = data.session_id; // the buttons come when it ends
    else if (event === 'sources') turn.showSources(data.sources || []);
    else if (event === 'reading') turn.reading(data.prompt_tokens);
    else if (event === 'delta') turn.addText(data.text || '');
    else if (event === 'tool_start') turn.startTool(data.name, data.arguments);
    else if (event === 'tool_end') turn.endTool(data.name, data.result);
    else if (event === 'done') turn.done(data);
    else if (event === 'error') turn.fail(data.message || 'the model failed');
  }
}

/** One assistant reply: text segments and tool blocks in the order they happened. */
class AssistantTurn {
  constructor() {
    this.el = h('article', { class: 'msg assistant', 'aria-label': 'LocalGPT' });
    this.body = h('div', { class: 'msg-body' });
    this.el.append(this.body);
    this.segment = null;
    this.segments = []; // every text segment, for Copy
    this.open = [];
    this.finished = false;
    this.frame = 0;
    this.gotText = false;
    this.status = null; // "Reading N tokens…" until the first token
    this.sourcesEl = null;
  }

  /** The model is reading its prompt: say so (with its size) until the first token. */
  reading(tokens) {
    this.clearStatus();
    const size = Number.isFinite(tokens) ? `${tokens.toLocaleString()} tokens` : 'the prompt';
    this.status = h(
      'p',
      { class: 'reading muted small', role: 'status' },
      h('span', { class: 'pulse', 'aria-hidden': 'true' }),
      `Reading ${size} of notes and your message…`,
    );
    this.body.append(this.status);
  }

  clearStatus() {
    this.status?.remove();
    this.status = null;
  }

  /** The notes recalled for this answer, as links to the cited lines (shown while streaming). */
  showSources(sources) {
    this.sourcesEl?.remove();
    if (!sources.length) return;
    this.sourcesEl = h(
      'details',
      { class: 'tool sources', open: '' },
      h(
        'summary',
        {},
        h(
          'span',
          { class: 'muted' },
          `Sources: ${sources.length} note${sources.length === 1 ? '' : 's'}`,
        ),
      ),
      h(
        'ol',
        { class: 'hits tool-body' },
        sources.map((s) =>
          h(
            'li',
            {},
            h('span', { class: 'source-number muted' }, `[${s.number}] `),
            citationButton(s.citation),
            s.date ? h('span', { class: 'muted' }, ` · ${s.date}`) : null,
            s.text ? h('div', { class: 'snippet small' }, firstLines(s.text)) : null,
          ),
        ),
      ),
    );
    this.el.append(this.sourcesEl);
  }

  showNotice(message) {
    this.el.append(h('p', { class: 'notice small', role: 'note' }, message));
  }

  streaming(on) {
    this.el.classList.toggle('streaming', on);
    if (!on) this.flush();
  }

  addText(text) {
    if (!text) return;
    this.clearStatus();
    this.gotText = true;
    if (!this.segment) {
      this.segment = { text: '', el: h('div', { class: 'md' }) };
      this.segments.push(this.segment);
      this.body.append(this.segment.el);
    }
    this.segment.text += text;
    // Re-render at most once a frame however fast deltas arrive.
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.segment) clear(this.segment.el, renderMarkdown(this.segment.text));
  }

  startTool(name, args) {
    this.flush();
    this.segment = null;
    const block = new ToolBlock(name, args);
    this.body.append(block.el);
    this.open.push(block);
    return block;
  }

  endTool(name, result) {
    const i = this.open.findIndex((b) => b.name === name);
    const block = i >= 0 ? this.open.splice(i, 1)[0] : this.startTool(name, null);
    if (i < 0) this.open.pop();
    const parsed = parseMaybe(result);
    block.finish(parsed);
    if (parsed && parsed.confirmation_required && parsed.pending_edit) this.askToConfirm(parsed);
  }

  /** The model's edit would remove a large share of MEMORY.md: the user decides here. */
  askToConfirm(edit) {
    const share = Math.round((edit.removed_share || 0) * 100);
    const status = h('span', { class: 'muted small' });
    const apply = h('button', { type: 'button', class: 'danger' }, 'Apply the edit');
    const keep = h('button', { type: 'button' }, 'Keep MEMORY.md');
    const box = h(
      'div',
      { class: 'notice confirm-edit', role: 'alertdialog', 'aria-label': 'Confirm memory edit' },
      h('p', {}, `The assistant's edit would remove ${share}% of MEMORY.md. Nothing has changed yet.`),
      h('div', { class: 'row' }, apply, keep, status),
    );
    const settle = (text) => {
      apply.disabled = keep.disabled = true;
      status.textContent = text;
    };
    apply.addEventListener('click', async () => {
      try {
        const done = await api(`/api/memory/pending/${encodeURIComponent(edit.pending_edit)}`, {
          method: 'POST',
        });
        settle(`Applied; the previous version is kept (${done.previous_version || 'none'}).`);
      } catch (err) {
        settle(`Not applied: ${err.message || err}`);
      }
    });
    keep.addEventListener('click', () => settle('MEMORY.md left unchanged.'));
    this.el.append(box);
  }

  done(data) {
    this.finished = true;
    this.clearStatus();
    // The final text replaces what streamed: its citations are resolved and checked, and a
    // reply the guard cut ends where the degeneration began.
    if (typeof data.response === 'string' && this.segment) this.segment.text = data.response;
    else if (!this.gotText && data.response) this.addText(data.response);
    this.flush();
    if (data.sources) this.showSources(data.sources);
    if (data.notice) this.showNotice(data.notice);
    const u = data.usage || {};
    const tokens = u.total_tokens ?? (u.prompt_tokens || 0) + (u.completion_tokens || 0);
    if (tokens) this.el.append(h('div', { class: 'usage muted small' }, `${tokens} tokens`));
  }

  fail(message) {
    this.finished = true;
    this.clearStatus();
    this.flush();
    this.el.classList.add('failed');
    this.el.append(h('p', { class: 'error turn-error', role: 'alert' }, `Error: ${message}`));
  }

  /** The reply's markdown as written (what Copy copies). */
  text() {
    return this.segments
      .map((s) => s.text.trim())
      .filter(Boolean)
      .join('\n\n');
  }

  /** A Copy button under a reply that has text (once it has ended). */
  showActions() {
    if (this.actions || !this.text()) return;
    this.actions = h(
      'div',
      { class: 'msg-actions' },
      copyButton(() => this.text(), 'Copy', 'reply'),
    );
    this.el.append(this.actions);
  }

  note(message) {
    this.finished = true;
    this.clearStatus();
    this.flush();
    this.el.append(h('p', { class: 'muted small' }, message));
  }
}

/** A tool call, collapsed: name and a one-line summary; arguments and result inside. */
class ToolBlock {
  constructor(name, args) {
    this.name = name;
    this.args = parseMaybe(args);
    this.summary = h('span', { class: 'tool-state' }, 'running…');
    this.inner = h('div', { class: 'tool-body' });
    this.el = h(
      'details',
      { class: 'tool' },
      h(
        'summary',
        {},
        h('span', { class: 'tool-name mono' }, name),
        ' ',
        argSummary(this.args),
        ' ',
        this.summary,
      ),
      this.inner,
    );
    // The arguments in full only when the one-line summary does not already say it all.
    const keys = this.args && typeof this.args === 'object' ? Object.keys(this.args) : [];
    if (keys.length > 1 || (keys.length === 1 && !SUMMARY_KEYS.includes(keys[0]))) {
      this.inner.append(
        h('pre', { class: 'code small' }, clip(JSON.stringify(this.args, null, 2))),
      );
    }
  }

  finish(result) {
    this.el.classList.add('finished');
    const hits = Array.isArray(result?.results) ? result.results : null;
    if (result && typeof result === 'object' && result.error) {
      this.summary.textContent = 'failed';
      this.el.classList.add('failed');
      this.inner.append(h('p', { class: 'error' }, String(result.error.message || result.error)));
    } else if (hits) {
      this.summary.textContent = `${hits.length} hit${hits.length === 1 ? '' : 's'}`;
      this.inner.append(
        h(
          'ul',
          { class: 'hits' },
          hits.map((r) =>
            h(
              'li',
              {},
              r.citation ? citationButton(r.citation) : h('span', { class: 'mono' }, r.path || ''),
              r.heading ? h('span', { class: 'muted' }, ` ${r.heading}`) : null,
              r.snippet ? h('div', { class: 'snippet small' }, r.snippet) : null,
            ),
          ),
        ),
      );
    } else {
      this.summary.textContent = 'done';
      if (result?.path && result?.from) {
        const end = result.to || result.from;
        this.inner.append(h('p', {}, citationButton(`${result.path}#L${result.from}-L${end}`)));
      }
      const text = typeof result === 'string' ? result : JSON.stringify(result, null, 2);
      this.inner.append(h('pre', { class: 'code small' }, clip(text ?? '')));
    }
  }
}

function userBubble(text) {
  return h(
    'article',
    { class: 'msg user', 'aria-label': 'You' },
    h('div', { class: 'msg-body' }, text),
    h(
      'div',
      { class: 'msg-actions' },
      copyButton(() => text, 'Copy', 'message'),
    ),
  );
}

// The assistant frames memory and tool output as untrusted data before the model sees it
// (shared/agent/untrusted.py); transcripts keep that framing, the page shows what is inside.
const FRAME =
  /<<<UNTRUSTED_CONTENT id="([0-9a-f]+)">>>\nSource: [^\n]*\n---\n([^]*?)\n<<<END_UNTRUSTED_CONTENT id="\1">>>/;
const RECALL = /^[^]*<<<END_UNTRUSTED_CONTENT id="[0-9a-f]+">>>\n\nUser message:\n([^]*)$/;

function unframe(text) {
  const m = FRAME.exec(text);
  return m ? m[2] : text;
}

/** A stored user message: what was typed, and the memory hits recalled for it. */
function splitRecall(text) {
  const m = RECALL.exec(text);
  if (!m) return { typed: text, recalled: [] };
  const notes = unframe(text.slice(0, text.length - m[1].length));
  const recalled = [...notes.matchAll(/^\[([^\]\n]+#L\d+(?:-L\d+)?)\]\n/gm)].map((hit) => hit[1]);
  return { typed: m[1], recalled };
}

function recallBlock(citations) {
  return h(
    'details',
    { class: 'tool recall' },
    h(
      'summary',
      {},
      h(
        'span',
        { class: 'muted' },
        `Recalled ${citations.length} note${citations.length === 1 ? '' : 's'} from memory`,
      ),
    ),
    h(
      'ul',
      { class: 'hits tool-body' },
      citations.map((c) => h('li', {}, citationButton(c))),
    ),
  );
}

function firstLines(text, max = 220) {
  const flat = text
    .replace(/^\s*#+\s*/gm, '')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (typeof p === 'string' ? p : p?.text || '')).join('');
  return '';
}

function parseMaybe(value) {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

const SUMMARY_KEYS = ['query', 'path', 'name', 'text'];

function argSummary(args) {
  if (!args || typeof args !== 'object') return '';
  const first = SUMMARY_KEYS.map((k) => args[k]).find((v) => v !== undefined);
  return typeof first === 'string' ? h('span', { class: 'muted' }, `“${first.slice(0, 60)}”`) : '';
}

function clip(text) {
  return text.length > MAX_TOOL_TEXT
    ? `${text.slice(0, MAX_TOOL_TEXT)}\n… (${text.length - MAX_TOOL_TEXT} more characters)`
    : text;
}
