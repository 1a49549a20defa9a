// A small markdown renderer for model replies and memory text. It builds DOM nodes and sets
// text only through text nodes, so nothing in the input is ever parsed as HTML: `<img onerror>`
// shows up as the literal characters. Links keep only http(s) and mailto targets; workspace
// citations (`memory/2026-11-02.md#L3-L9`) become buttons that open the file viewer.
//
// Covers what assistants write: headings, paragraphs, lists (nested, ordered, task items),
// block quotes, fenced code, tables, rules, and inline code, emphasis, strike, links, autolinks.

import { citationButton, copyButton, h } from './dom.js';

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:\s+(.*)|\s*$)/;
const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const CITATION = /^[\w][\w./-]*\.md#L\d+(?:-L?\d+)?/;
const BARE_URL = /^https?:\/\/[^\s<>"'`]+/;
const MAX_DEPTH = 12; // deeply nested quotes/lists from hostile input stop nesting here

/** Render markdown text into a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  for (const node of blocks(lines, 0)) fragment.append(node);
  return fragment;
}

/** Only absolute http(s)/mailto URLs survive; anything else (javascript:, data:, relative) is null. */
export function safeHref(raw) {
  try {
    const url = new URL(String(raw).trim());
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const close = new RegExp(`^ {0,3}${m[1][0] === '`' ? '`' : '~'}{${m[1].length},}\\s*$`);
      const body = [];
      for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
      i++;
      out.push(codeBlock(body.join('\n'), m[2]));
    } else if ((m = HEADING.exec(line))) {
      out.push(h(`h${m[1].length}`, {}, inline(m[2] || '')));
      i++;
    } else if (RULE.test(line)) {
      out.push(h('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && lines[i].trim() && QUOTE.test(lines[i]); i++) {
        body.push(lines[i].replace(QUOTE, ''));
      }
      out.push(h('blockquote', {}, depth < MAX_DEPTH ? blocks(body, depth + 1) : body.join('\n')));
    } else if (ITEM.test(line)) {
      const [node, next] = list(lines, i, depth);
      out.push(node);
      i = next;
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      const rows = [line];
      for (i += 2; i < lines.length && lines[i].includes('|') && lines[i].trim(); i++) {
        rows.push(lines[i]);
      }
      out.push(table(rows));
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines, i); i++) {
        para.push(lines[i].trim());
      }
      if (!para.length) para.push(lines[i++].trim()); // a line no block rule accepted
      out.push(h('p', {}, lineBreaks(para)));
    }
  }
  return out;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes('|') && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]))
  );
}

function lineBreaks(parts) {
  const nodes = [];
  parts.forEach((part, n) => {
    if (n) nodes.push(h('br'));
    nodes.push(...inline(part));
  });
  return nodes;
}

function codeBlock(code, lang) {
  const pre = h('pre', { class: 'code' }, h('code', {}, code));
  if (lang) pre.dataset.lang = lang;
  return h(
    'div',
    { class: 'code-block' },
    pre,
    copyButton(() => code, 'Copy', 'code'),
  );
}

function list(lines, start, depth) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const el = h(ordered ? 'ol' : 'ul');
  if (ordered && parseInt(first[2], 10) !== 1) el.start = parseInt(first[2], 10);
  let i = start;
  let item = null;
  const flush = () => item && el.append(listItem(item, depth));
  while (i < lines.length) {
    const line = lines[i];
    const m = ITEM.exec(line);
    if (m && m[1].length === indent && /\d/.test(m[2]) === ordered) {
      flush();
      item = { lines: [m[3] || ''], offset: m[1].length + m[2].length + 1 };
      i++;
      continue;
    }
    const lead = line.length - line.trimStart().length;
    if (!line.trim()) {
      // A blank line continues the list only if more of it follows.
      const next = lines.slice(i + 1).find((l) => l.trim());
      const nm = next !== undefined && ITEM.exec(next);
      const nextLead = next === undefined ? 0 : next.length - next.trimStart().length;
      if (next === undefined || (nextLead <= indent && !(nm && nm[1].length === indent))) break;
      item.lines.push('');
      i++;
    } else if (lead > indent) {
      item.lines.push(line.slice(Math.min(lead, item.offset)));
      i++;
    } else if (!startsBlock(lines, i) && item.lines[item.lines.length - 1].trim()) {
      item.lines.push(line.trim()); // a lazy continuation of the item's paragraph
      i++;
    } else {
      break;
    }
  }
  flush();
  return [el, i];
}

function listItem(item, depth) {
  const li = h('li');
  const lines = [...item.lines];
  const task = /^\[([ xX])\]\s+/.exec(lines[0]);
  if (task) {
    lines[0] = lines[0].slice(task[0].length);
    li.classList.add('task');
    const done = task[1] !== ' ';
    li.append(
      h(
        'span',
        {
          class: done ? 'check done' : 'check',
          role: 'img',
          'aria-label': done ? 'done' : 'to do',
        },
        done ? '☑' : '☐',
      ),
      ' ',
    );
  }
  if (depth >= MAX_DEPTH) {
    li.append(lines.join('\n'));
    return li;
  }
  const children = blocks(lines, depth + 1);
  // A tight item's lone paragraph reads better without the paragraph's margins.
  if (children.length && children[0].tagName === 'P') {
    li.append(...children.shift().childNodes);
  }
  li.append(...children);
  return li;
}

function table(rows) {
  const cells = (row) => {
    let s = row.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
  };
  const [head, ...body] = rows;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          cells(head).map((c) => h('th', {}, inline(c))),
        ),
      ),
      h(
        'tbody',
        {},
        body.map((r) =>
          h(
            'tr',
            {},
            cells(r).map((c) => h('td', {}, inline(c))),
          ),
        ),
      ),
    ),
  );
}

// Inline spans, left to right. Returns an array of nodes and strings (strings become text).
// Plain characters take a fast path so re-rendering a long streamed reply stays cheap.
const SPECIAL = new Set(['\\', '`', '[', '!', '<', '*', '_', '~']);
const CITATION_AT = new RegExp(CITATION.source.slice(1), 'y');
const URL_AT = new RegExp(BARE_URL.source.slice(1), 'y');
const EMPHASIS = [
  ['**', 'strong'],
  ['__', 'strong'],
  ['~~', 'del'],
  ['*', 'em'],
  ['_', 'em'],
];

function inline(text, depth = 0) {
  const out = [];
  let plain = '';
  let i = 0;
  const push = (node, length) => {
    if (plain) out.push(plain);
    plain = '';
    out.push(node);
    i += length;
  };
  while (i < text.length) {
    const ch = text[i];
    const prev = i ? text[i - 1] : ' ';
    let m;
    if (/\w/.test(ch) && !/[\w./-]/.test(prev)) {
      URL_AT.lastIndex = i;
      if (ch === 'h' && (m = URL_AT.exec(text))) {
        const url = m[0].replace(/[.,;:!?)\]]+$/, '');
        push(linkNode(url, url, false, -1), url.length);
        continue;
      }
      CITATION_AT.lastIndex = i;
      if ((m = CITATION_AT.exec(text))) {
        push(citationButton(m[0]), m[0].length);
        continue;
      }
    }
    if (ch === '[') {
      // "[memory/x.md#L3-L9]", as the assistant cites notes: the button, without brackets.
      CITATION_AT.lastIndex = i + 1;
      if ((m = CITATION_AT.exec(text)) && text[i + 1 + m[0].length] === ']') {
        push(citationButton(m[0]), m[0].length + 2);
        continue;
      }
    }
    if (!SPECIAL.has(ch)) {
      plain += ch;
      i++;
      continue;
    }
    const rest = text.slice(i);
    if (ch === '\\' && /^\\[!-/:-@[-`{-~]/.test(rest)) {
      plain += rest[1];
      i += 2;
    } else if (ch === '`' && (m = /^(`+)([^]*?[^`])\1(?!`)/.exec(rest))) {
      push(h('code', {}, m[2].trim() || m[2]), m[0].length);
    } else if ((ch === '[' || (ch === '!' && rest[1] === '[')) && (m = link(rest))) {
      push(linkNode(m.label, m.href, ch === '!', depth), m.length);
    } else if (ch === '<' && (m = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/.exec(rest))) {
      push(linkNode(m[1], m[1], false, -1), m[0].length);
    } else if (depth < MAX_DEPTH && (m = emphasis(rest, prev))) {
      push(h(m.tag, {}, inline(m.inner, depth + 1)), m.length);
    } else {
      plain += ch;
      i++;
    }
  }
  if (plain) out.push(plain);
  return out;
}

function emphasis(rest, prev) {
  for (const [marker, tag] of EMPHASIS) {
    if (!rest.startsWith(marker)) continue;
    if (marker[0] === '_' && /\w/.test(prev)) return null; // snake_case stays as it is
    const after = rest[marker.length];
    if (!after || /\s/.test(after)) return null;
    let end = rest.indexOf(marker, marker.length + 1);
    for (; end > 0; end = rest.indexOf(marker, end + 1)) {
      if (/\s/.test(rest[end - 1])) continue;
      if (marker.length === 1 && rest[end + 1] === marker) {
        end++;
        continue;
      } // a "**" inside
      if (marker[0] === '_' && /\w/.test(rest[end + marker.length] || '')) continue;
      return { tag, inner: rest.slice(marker.length, end), length: end + marker.length };
    }
    return null;
  }
  return null;
}

// [label](href "title") with one level of nested brackets/parentheses.
function link(rest) {
  const start = rest[0] === '!' ? 1 : 0;
  let depth = 0;
  let close = -1;
  for (let j = start; j < rest.length; j++) {
    if (rest[j] === '\\') {
      j++;
      continue;
    }
    if (rest[j] === '[') depth++;
    else if (rest[j] === ']' && --depth === 0) {
      close = j;
      break;
    }
  }
  if (close < 0 || rest[close + 1] !== '(') return null;
  let parens = 0;
  for (let j = close + 1; j < rest.length; j++) {
    if (rest[j] === '(') parens++;
    else if (rest[j] === ')' && --parens === 0) {
      const target = rest
        .slice(close + 2, j)
        .trim()
        .replace(/\s+"[^"]*"$/, '');
      const href = target.replace(/^<(.*)>$/, '$1');
      return { label: rest.slice(start + 1, close), href, length: j + 1 };
    }
  }
  return null;
}

// depth -1: the label is a URL shown as it is (parsing it again would find the URL again).
function linkNode(label, href, image, depth) {
  const literal = image || depth < 0 || depth >= MAX_DEPTH;
  const content = literal ? [image ? `🖼 ${label || 'image'}` : label] : inline(label, depth + 1);
  const safe = safeHref(href);
  if (safe) {
    return h(
      'a',
      { href: safe, target: '_blank', rel: 'noopener noreferrer', title: safe },
      content,
    );
  }
  if (CITATION.test(href)) return citationButton(href, label || href);
  // An unsafe or relative target: keep the words, show the target as plain text.
  return h('span', { class: 'link-refused', title: `link not followed: ${href}` }, content);
}
