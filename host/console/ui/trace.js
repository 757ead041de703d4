// Live SIP trace: a filter (user, Call-ID, IP), the messages as they cross the node's sockets (SSE),
// grouped by Call-ID, and the ladder diagram of the chosen call (sngrep-like): one column per address,
// one arrow per message, the raw text of the chosen message below. The page keeps at most MAX_MESSAGES.
import { get, h, statusLine } from './api.js';

const NS = 'http://www.w3.org/2000/svg';
const MAX_MESSAGES = 2000;
const COL = 190;
const ROW = 34;

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const label = (m) => (m.status ? m.firstLine.replace(/^SIP\/2\.0 /, '') : m.method);
const time = (ts) => new Date(ts).toISOString().slice(11, 23);

/** the ladder of `msgs` (one call, oldest first) as an <svg>; `pick(m)` when an arrow is chosen. */
export function ladder(msgs, pick) {
  const cols = [];
  for (const m of msgs) for (const e of [m.src, m.dst]) if (!cols.includes(e)) cols.push(e);
  const width = Math.max(1, cols.length) * COL;
  const height = 40 + msgs.length * ROW + 10;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'ladder', role: 'group', 'aria-label': `Ladder of ${msgs.length} messages between ${cols.join(', ')}` });
  cols.forEach((c, i) => {
    const x = i * COL + COL / 2;
    root.append(svg('text', { x, y: 16, 'text-anchor': 'middle', class: 'host' }, c));
    root.append(svg('line', { x1: x, x2: x, y1: 24, y2: height - 4, class: 'lifeline' }));
  });
  msgs.forEach((m, i) => {
    const y = 44 + i * ROW;
    const x1 = cols.indexOf(m.src) * COL + COL / 2;
    const x2 = cols.indexOf(m.dst) * COL + COL / 2;
    const g = svg('g', { tabindex: 0, role: 'button', class: `arrow ${m.status ? (m.status >= 300 ? 'fail' : 'reply') : 'request'}`, 'aria-label': `${time(m.ts)} ${label(m)} from ${m.src} to ${m.dst}`, 'data-seq': m.seq });
    g.append(svg('line', { x1, x2, y1: y, y2: y }));
    const dir = x2 >= x1 ? -1 : 1;
    g.append(svg('polygon', { points: `${x2},${y} ${x2 + dir * 8},${y - 4} ${x2 + dir * 8},${y + 4}` }));
    g.append(svg('text', { x: (x1 + x2) / 2, y: y - 5, 'text-anchor': 'middle' }, label(m)));
    g.append(svg('text', { x: Math.min(x1, x2) + 4, y: y + 13, class: 'time' }, time(m.ts)));
    g.addEventListener('click', () => pick(m));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        pick(m);
      }
    });
    root.append(g);
  });
  return root;
}

customElements.define('page-trace', class extends HTMLElement {
  connectedCallback() {
    this.messages = [];
    this.selected = sessionStorage.getItem('trace-callid') ?? '';
    sessionStorage.removeItem('trace-callid');
    this.status = statusLine();
    const f = (id, text, attrs = {}) => [h('label', { for: id }, text), h('input', { id, name: id, maxlength: 256, ...attrs })];
    this.form = h('form', { class: 'inline', 'aria-label': 'Trace filter' },
      ...f('user', 'User'), ...f('callid', 'Call-ID', { value: this.selected }), ...f('ip', 'IP address'),
      h('button', { type: 'submit' }, 'Start'), h('button', { type: 'button', class: 'secondary', onclick: () => this.stop() }, 'Stop'));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.start();
    });
    this.calls = h('ul', { class: 'calls', 'aria-label': 'Calls' });
    this.ladderBox = h('div', { class: 'ladder-box' });
    this.raw = h('pre', { class: 'raw', tabindex: 0, 'aria-label': 'Raw message' });
    this.replaceChildren(this.form, this.status, h('div', { class: 'trace' }, h('section', { 'aria-label': 'Calls seen' }, h('h2', {}, 'Calls'), this.calls), h('section', { 'aria-label': 'Ladder' }, h('h2', {}, 'Ladder'), this.ladderBox, h('h2', {}, 'Message'), this.raw)));
    if (this.selected) this.start();
  }

  disconnectedCallback() {
    this.stop();
  }

  filterQuery() {
    const q = new URLSearchParams();
    for (const k of ['user', 'callid', 'ip']) if (this.form[k].value) q.set(k, this.form[k].value);
    return q;
  }

  async start() {
    this.stop();
    const q = this.filterQuery();
    this.messages = [];
    this.events = new EventSource(`/console/api/events?topics=trace&${q}`);
    this.events.addEventListener('ready', async () => {
      this.status.show('Capturing: messages matching the filter appear as they cross the sockets.');
      // what the ring still holds from earlier watching
      const { messages } = await get(`trace?${q}`);
      const seen = new Set(this.messages.map((m) => m.seq));
      this.messages.unshift(...messages.filter((m) => !seen.has(m.seq)));
      this.draw();
    });
    this.events.addEventListener('trace', (ev) => {
      this.messages.push(JSON.parse(ev.data));
      if (this.messages.length > MAX_MESSAGES) this.messages.shift();
      this.scheduleDraw();
    });
    this.events.onerror = () => this.status.show('Stream interrupted; reconnecting…', true);
  }

  stop() {
    if (!this.events) return;
    this.events.close();
    this.events = null;
    this.status.show('Stopped.');
  }

  scheduleDraw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  draw() {
    const byCall = new Map();
    for (const m of this.messages) {
      const k = m.callId || '(no Call-ID)';
      if (!byCall.has(k)) byCall.set(k, []);
      byCall.get(k).push(m);
    }
    if (!this.selected || !byCall.has(this.selected)) this.selected = [...byCall.keys()].pop() ?? '';
    this.calls.replaceChildren(...[...byCall].map(([id, msgs]) => {
      const first = msgs[0];
      const b = h('button', { type: 'button', class: 'call', 'aria-pressed': String(id === this.selected), onclick: () => { this.selected = id; this.draw(); } },
        h('strong', {}, first.method || label(first)), ` ${first.fromUser || '?'} → ${first.toUser || first.ruriUser || '?'}`, h('br'), h('small', {}, `${id} · ${msgs.length} messages`));
      return h('li', {}, b);
    }));
    const msgs = byCall.get(this.selected) ?? [];
    this.ladderBox.replaceChildren(msgs.length ? ladder(msgs, (m) => this.show(m)) : h('p', {}, 'No messages yet.'));
  }

  show(m) {
    this.raw.textContent = `${time(m.ts)} ${m.proto.toUpperCase()} ${m.src} → ${m.dst}${m.truncated ? ' (cut)' : ''}\n\n${m.text}`;
  }
});
