// Notes: the workspace's markdown as a tree, a note rendered as markdown, and an editor that
// saves through PUT /api/memory/note. A save carries the version the note was opened at; if the
// file changed since (the assistant appended to it, another tab saved it) the server refuses
// with 409 and the editor offers to reload theirs or keep mine, never silently overwriting.

import { api } from '../api.js';
import { clear, copyButton, h, timeEl } from '../dom.js';
import { renderMarkdown } from '../markdown.js';

export class NotesView {
  constructor(root, { banner }) {
    this.root = root;
    this.banner = banner;
    this.note = null; // {path, text, version}
    this.editing = false;
    this.today = null;
    this.paths = new Set();
    this.build();
    window.addEventListener('beforeunload', (e) => {
      if (this.dirty()) e.preventDefault();
    });
  }

  build() {
    this.tree = h('nav', { class: 'note-tree', 'aria-label': 'Workspace notes' });
    this.treeNote = h('p', { class: 'muted small' });
    this.newPath = h('input', {
      type: 'text',
      name: 'new-note',
      placeholder: 'notes/idea.md',
      'aria-label': 'New note path',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: '300',
    });
    this.newForm = h(
      'form',
      {
        class: 'new-note',
        hidden: true,
        onsubmit: (e) => {
          e.preventDefault();
          this.createNote(this.newPath.value.trim());
        },
      },
      h('label', { class: 'small muted', for: 'new-note-path' }, 'Path in the workspace (.md)'),
      h(
        'div',
        { class: 'row' },
        this.newPath,
        h('button', { type: 'submit', class: 'primary' }, 'Create'),
      ),
    );
    this.newPath.id = 'new-note-path';
    this.head = h('div', { class: 'note-head' });
    this.status = h('p', { class: 'note-status small', role: 'status' });
    this.body = h('div', { class: 'note-body' });
    clear(
      this.root,
      h(
        'div',
        { class: 'notes-layout' },
        h(
          'aside',
          { class: 'card notes-side' },
          h(
            'div',
            { class: 'card-head' },
            h('h2', {}, 'Notes'),
            h(
              'button',
              { type: 'button', class: 'ghost small', onclick: () => this.openToday() },
              'Today',
            ),
            h(
              'button',
              { type: 'button', class: 'small', onclick: () => this.toggleNew() },
              '+ New',
            ),
          ),
          this.newForm,
          this.tree,
          this.treeNote,
        ),
        h(
          'section',
          { class: 'card note-pane', 'aria-label': 'Note' },
          this.head,
          this.status,
          this.body,
        ),
      ),
    );
    this.showPlaceholder();
  }

  show(params = new URLSearchParams()) {
    this.loadTree();
    const path = params.get('path');
    if (path && (path !== this.note?.path || params.has('edit') !== this.editing)) {
      this.open(path, { edit: params.has('edit') });
    }
  }

  reset() {
    this.note = null;
    this.editing = false;
    this.build();
  }

  focus() {
    this.editor?.focus();
  }

  dirty() {
    return Boolean(this.editing && this.editor && this.editor.value !== this.note?.text);
  }

  showPlaceholder() {
    clear(this.head, h('h2', {}, 'No note open'));
    clear(
      this.body,
      h(
        'div',
        { class: 'empty' },
        h('p', {}, 'Pick a note on the left, open today’s daily log, or start a new note.'),
        h(
          'p',
          { class: 'muted small' },
          'Notes are the markdown files of your workspace; the assistant reads them as memory.',
        ),
      ),
    );
  }

  async loadTree() {
    try {
      const { notes, today } = await api('/api/memory/notes');
      this.today = today;
      this.paths = new Set(notes.map((n) => n.path));
      this.treeNote.textContent = notes.length ? '' : 'The workspace has no markdown files yet.';
      clear(
        this.tree,
        treeList(buildTree(notes), (path) => this.open(path), this.note?.path),
      );
    } catch (err) {
      this.treeNote.textContent = `Notes unavailable: ${err.message}`;
    }
  }

  markActive() {
    for (const link of this.tree.querySelectorAll('a.note-link')) {
      if (link.dataset.path === this.note?.path) link.setAttribute('aria-current', 'true');
      else link.removeAttribute('aria-current');
    }
  }

  toggleNew() {
    this.newForm.hidden = !this.newForm.hidden;
    if (!this.newForm.hidden) {
      if (!this.newPath.value) this.newPath.value = 'notes/';
      this.newPath.focus();
    }
  }

  /** Leave the open note only if its unsaved changes may go. */
  mayLeave() {
    return !this.dirty() || confirm(`Discard your unsaved changes to ${this.note.path}?`);
  }

  async open(path, { edit = false } = {}) {
    if (!path || !this.mayLeave()) return;
    clear(this.status);
    clear(this.head, h('h2', { class: 'mono' }, path), h('span', { class: 'muted' }, ' opening…'));
    try {
      this.note = await api(`/api/memory/note?${new URLSearchParams({ path })}`);
    } catch (err) {
      this.note = null;
      this.editing = false;
      if (err.status === 404) this.offerCreate(path);
      else this.showError(`Cannot open ${path}: ${err.message}`);
      this.markActive();
      return;
    }
    this.markActive();
    if (edit) this.edit();
    else this.view();
  }

  showError(message) {
    clear(this.head, h('h2', {}, 'Cannot open the note'));
    clear(this.body, h('p', { class: 'error', role: 'alert' }, message));
  }

  /** A note that does not exist (yet): say so and offer to create it, never a bare error. */
  offerCreate(path) {
    const daily = path === this.today;
    clear(this.head, h('h2', { class: 'mono' }, path));
    clear(
      this.body,
      h(
        'div',
        { class: 'empty missing-note' },
        h(
          'p',
          {},
          daily
            ? 'Today’s daily log has not been started yet.'
            : `${path} does not exist in the workspace.`,
        ),
        h(
          'button',
          { type: 'button', class: 'primary', onclick: () => this.createNote(path) },
          daily ? 'Start today’s log' : 'Create it',
        ),
      ),
    );
  }

  async openToday() {
    if (!this.today) await this.loadTree();
    if (this.today) this.open(this.today);
  }

  /** Create a note (refused if it exists: then it opens) and open it in the editor. */
  async createNote(path) {
    if (!path || !this.mayLeave()) return;
    const name = path.split('/').pop().replace(/\.md$/i, '');
    const text = `# ${name}\n\n`; // a daily log starts as the daily-log writer starts it
    try {
      await api('/api/memory/note', { method: 'PUT', body: { path, text, base_version: null } });
    } catch (err) {
      if (err.status === 409) {
        this.open(path);
        return;
      }
      this.newForm.hidden = false;
      this.newPath.value = path;
      clear(this.status, h('span', { class: 'error' }, `Cannot create ${path}: ${err.message}`));
      return;
    }
    this.newForm.hidden = true;
    this.newPath.value = '';
    await this.loadTree();
    this.note = null; // nothing to lose: it was just created
    this.editing = false;
    await this.open(path, { edit: true });
  }

  headFor(mode) {
    const { path } = this.note;
    const actions =
      mode === 'view'
        ? [
            copyButton(() => this.note.text, 'Copy', 'note'),
            h('button', { type: 'button', class: 'primary', onclick: () => this.edit() }, 'Edit'),
          ]
        : [
            h(
              'button',
              { type: 'button', class: 'ghost', onclick: () => this.cancelEdit() },
              'Cancel',
            ),
            h(
              'button',
              { type: 'button', class: 'primary save', onclick: () => this.save() },
              'Save',
            ),
          ];
    clear(
      this.head,
      h('h2', { class: 'mono note-path', title: path }, path),
      h('div', { class: 'note-actions' }, actions),
    );
  }

  view() {
    this.editing = false;
    this.editor = null;
    this.headFor('view');
    const text = this.note.text;
    clear(
      this.body,
      text.trim()
        ? h('div', { class: 'md note-md' }, renderMarkdown(text))
        : h('p', { class: 'muted empty' }, 'This note is empty. Edit it to write something.'),
    );
  }

  edit(text = this.note.text) {
    this.editing = true;
    this.headFor('edit');
    this.editor = h('textarea', {
      class: 'note-editor',
      name: 'note-text',
      spellcheck: 'true',
      'aria-label': `Text of ${this.note.path}`,
      onkeydown: (e) => {
        if ((e.ctrlKey || e.metaKey) && e.key === 's') {
          e.preventDefault();
          this.save();
        } else if (e.key === 'Escape') {
          this.cancelEdit();
        }
      },
    });
    this.editor.value = text;
    clear(this.body, this.editor);
    clear(this.status, h('span', { class: 'muted' }, 'Ctrl+S saves · Esc cancels'));
    this.editor.focus();
  }

  cancelEdit() {
    if (!this.mayLeave()) return;
    clear(this.status);
    this.view();
  }

  async save(baseVersion = this.note.version) {
    const text = this.editor.value;
    const button = this.head.querySelector('button.save');
    if (button) button.disabled = true;
    clear(this.status, h('span', { class: 'muted' }, 'Saving…'));
    try {
      const saved = await api('/api/memory/note', {
        method: 'PUT',
        body: { path: this.note.path, text, base_version: baseVersion },
      });
      this.note = { path: saved.path, text, version: saved.version };
      clear(
        this.status,
        h('span', { class: 'ok-text' }, 'Saved '),
        timeEl(new Date().toISOString()),
        saved.backup ? h('span', { class: 'muted' }, ` · previous version kept`) : null,
        h('span', { class: 'muted' }, ' · reindexing'),
      );
      this.view();
      this.loadTree();
    } catch (err) {
      if (err.status === 409) this.showConflict(err.message);
      else clear(this.status, h('span', { class: 'error', role: 'alert' }, err.message));
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** The note changed on disk since it was opened: the user chooses, nothing is merged. */
  showConflict(message) {
    clear(
      this.status,
      h(
        'div',
        { class: 'conflict', role: 'alert' },
        h('p', { class: 'error' }, message),
        h(
          'div',
          { class: 'row' },
          h(
            'button',
            { type: 'button', onclick: () => this.reloadTheirs() },
            'Reload (drop my changes)',
          ),
          h(
            'button',
            { type: 'button', class: 'danger', onclick: () => this.keepMine() },
            'Keep mine (replace theirs)',
          ),
        ),
      ),
    );
  }

  async reloadTheirs() {
    try {
      this.note = await api(`/api/memory/note?${new URLSearchParams({ path: this.note.path })}`);
    } catch (err) {
      clear(this.status, h('span', { class: 'error' }, `Cannot reload: ${err.message}`));
      return;
    }
    this.edit();
    clear(this.status, h('span', { class: 'muted' }, 'Reloaded the saved version.'));
  }

  /** Save over the newer version (which the server keeps in data/versions/). */
  async keepMine() {
    try {
      const latest = await api(`/api/memory/note?${new URLSearchParams({ path: this.note.path })}`);
      await this.save(latest.version);
    } catch (err) {
      if (err.status === 404)
        await this.save(null); // it went away: save mine as new
      else clear(this.status, h('span', { class: 'error' }, err.message));
    }
  }
}

/** [{path}] -> {files: [...], dirs: {name: subtree}} */
function buildTree(notes) {
  const root = { files: [], dirs: {} };
  for (const note of notes) {
    const parts = note.path.split('/');
    let node = root;
    for (const dir of parts.slice(0, -1)) {
      node = node.dirs[dir] ||= { files: [], dirs: {} };
    }
    node.files.push(note);
  }
  return root;
}

function treeList(node, open, active, prefix = '') {
  const dirs = Object.keys(node.dirs).sort();
  return h(
    'ul',
    { class: 'tree' },
    dirs.map((name) =>
      h(
        'li',
        {},
        h(
          'details',
          { open: true },
          h('summary', { class: 'dir' }, `${name}/`),
          treeList(node.dirs[name], open, active, `${prefix}${name}/`),
        ),
      ),
    ),
    // Daily logs newest first; other notes by name.
    [...node.files]
      .sort((a, b) =>
        prefix === 'memory/' ? b.path.localeCompare(a.path) : a.path.localeCompare(b.path),
      )
      .map((note) =>
        h(
          'li',
          {},
          h(
            'a',
            {
              href: `#notes?${new URLSearchParams({ path: note.path })}`,
              class: 'note-link',
              dataset: { path: note.path },
              'aria-current': note.path === active ? 'true' : null,
              title: note.path,
              onclick: (e) => {
                e.preventDefault();
                open(note.path);
              },
            },
            note.path.slice(prefix.length),
          ),
        ),
      ),
  );
}
