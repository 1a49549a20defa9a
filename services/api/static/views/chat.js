// Chat: a sessions list, replies streamed over SSE and rendered as markdown, tool calls folded
// away with memory hits' citations clickable.

import { api, stream } from '../api.js';
import { citationButton, clear, h, timeEl } from '../dom.js';
import { renderMarkdown } from '../markdown.js';

const MAX_TOOL_TEXT = 4000;

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
    this.sidebar = h(
      'aside',
      { class: 'sessions', 'aria-label': 'Chat sessions' },
      h(
        'button',
        { type: 'button', class: 'primary wide', onclick: () => this.newChat() },
        '+ New chat',
      ),
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
          `${a.model}: the tiny offline model, often wrong. Better: `,
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
          'Enter sends · Shift+Enter new line · Esc stops · / focuses the input · 1–4 switch views',
        ),
      ),
    );
  }

  async loadSessions() {
    try {
      const { sessions } = await api('/api/sessions');
      this.listNote.textContent = sessions.length ? '' : 'No sessions yet.';
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
                  this.openSession(s.id, s.title);
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
    this.sessionId = null;
    this.title.textContent = 'New chat';
    this.showEmpty();
    this.sidebar.classList.remove('open');
    this.loadSessions();
    this.input.focus();
  }

  async openSession(id, title) {
    if (this.controller) return;
    this.sidebar.classList.remove('open');
    try {
      const session = await api(`/api/sessions/${encodeURIComponent(id)}`);
      this.sessionId = id;
      this.title.textContent = title || 'Untitled';
      this.renderHistory(session.messages || []);
      this.loadSessions();
    } catch (err) {
      this.banner(`Cannot open the session: ${err.message}`);
    }
  }

  async deleteSession(session) {
    if (!confirm(`Delete the session “${session.title || session.id}”? This cannot be undone.`))
      return;
    try {
      await api(`/api/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
      if (session.id === this.sessionId) this.newChat();
      else this.loadSessions();
    } catch (err) {
      this.banner(`Cannot delete the session: ${err.message}`);
    }
  }

  renderHistory(messages) {
    clear(this.messages);
    let turn = null;
    const pending = []; // tool blocks waiting for their results, in call order
    for (const m of messages) {
      const text = contentText(m.content);
      if (m.role === 'user') {
        turn = null;
        const { typed, recalled } = splitRecall(text);
        this.messages.append(userBubble(m.text ?? typed));
        if (recalled.length) this.messages.append(recallBlock(recalled));
      } else if (m.role === 'assistant') {
        turn = turn || this.addTurn();
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
        turn = turn || this.addTurn();
        // Results answer calls in order; match by id when the transcript has one.
        let i = pending.findIndex((b) => m.tool_call_id && b.callId === m.tool_call_id);
        if (i < 0 && pending.length) i = 0;
        const block = i >= 0 ? pending.splice(i, 1)[0] : turn.startTool(m.name || 'tool', null);
        block.finish(parseMaybe(unframe(text)));
      }
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
      this.controller = null;
      this.sendButton.disabled = false;
      this.stopButton.hidden = true;
      this.loadSessions();
      this.input.focus();
    }
  }

  onEvent(turn, event, data) {
    if (event === 'session') this.sessionId = data.session_id;
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
    this.el.append(h('p', { class: 'error', role: 'alert' }, `Error: ${message}`));
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
