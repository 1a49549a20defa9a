// Building DOM nodes without markup strings: every piece of text becomes a text node, so memory
// contents and model output can never turn into HTML (the page's CSP also forbids innerHTML).

/** h('a', {class: 'x', href, onclick}, 'text', child, [more]) -> Element */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const STEPS = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Infinity],
];

/** "3 minutes ago" / "in 12 minutes" for an ISO string or epoch seconds. */
export function ago(value) {
  const when = toDate(value);
  if (!when) return '—';
  let amount = (when.getTime() - Date.now()) / 1000;
  if (Math.abs(amount) < 5) return 'just now';
  for (const [unit, size] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return when.toLocaleString();
}

export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A <time> showing relative time, the exact moment on hover. */
export function timeEl(value) {
  const date = toDate(value);
  if (!date) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: date.toISOString(), title: date.toLocaleString() }, ago(value));
}

export function bytes(n) {
  if (typeof n !== 'number') return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Parse "path#L3-L9" (or "path#L3") into {path, start, end}; null if it is not a citation. */
export function parseCitation(text) {
  const m = /^(.+?)#L(\d+)(?:-L?(\d+))?$/.exec(String(text).trim());
  if (!m) return null;
  const start = Number(m[2]);
  return { path: m[1], start, end: m[3] ? Number(m[3]) : start };
}

/** A button that opens a cited range in the memory file viewer. */
export function citationButton(citation, label = citation) {
  const c = parseCitation(citation);
  if (!c) return h('code', {}, label);
  return h(
    'a',
    {
      class: 'citation',
      href: `#memory`,
      title: `Open ${c.path}, lines ${c.start}–${c.end}`,
      onclick: (event) => {
        event.preventDefault();
        document.dispatchEvent(new CustomEvent('open-citation', { detail: c }));
      },
    },
    label,
  );
}

/** Put text on the clipboard; falls back to a hidden textarea where the Clipboard API is absent. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** A small "Copy" button; `text()` is asked at click time (a reply may still be growing). */
export function copyButton(text, label = 'Copy', what = 'text') {
  const button = h(
    'button',
    {
      type: 'button',
      class: 'copy',
      title: `Copy the ${what}`,
      'aria-label': `Copy the ${what}`,
      onclick: async () => {
        const ok = await copyText(text());
        button.textContent = ok ? 'Copied' : 'Copy failed';
        button.classList.toggle('done', ok);
        clearTimeout(button.resetTimer);
        button.resetTimer = setTimeout(() => {
          button.textContent = label;
          button.classList.remove('done');
        }, 1500);
      },
    },
    label,
  );
  return button;
}

/** Offer `blob` as a file download named `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, class: 'offscreen' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** YYYY-MM-DD for a Date in this browser's zone. */
export function isoDay(date = new Date()) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
