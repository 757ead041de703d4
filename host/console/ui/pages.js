// The console's pages (custom elements), each over the RPC methods of host/console/methods.ts.
import { act, get, h, isAdmin, rpc, statusLine } from './api.js';
import { lineChart } from './chart.js';

/** a table with a caption and column headers; rows are arrays of cells (strings or nodes). */
function table(caption, head, rows, empty = 'none') {
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c ?? '')))) : h('tr', {}, h('td', { colspan: head.length }, empty))));
}

const button = (text, onclick, label) => h('button', { type: 'button', onclick, 'aria-label': label }, text);
const field = (id, label, attrs = {}) => [h('label', { for: id }, label), h('input', { id, name: id, ...attrs })];

/** a page element: load() fills it; status shows the outcome of actions. */
class Page extends HTMLElement {
  connectedCallback() {
    this.status = statusLine();
    this.body = h('div');
    this.replaceChildren(this.body, this.status);
    this.reload();
  }

  async reload() {
    try {
      this.body.replaceChildren(...[await this.load()].flat());
    } catch (e) {
      this.status.show(e.message, true);
    }
  }
}

// ---- overview ---------------------------------------------------------------------------------
const SERIES = [
  ['calls_per_s', 'Calls per second'],
  ['requests_per_s', 'Requests per second'],
  ['active_dialogs', 'Active dialogs'],
  ['registrations', 'Registrations'],
  ['errors_per_s', 'Errors per second'],
  ['hook_p99_us', 'Hook latency p99 (µs)'],
];

customElements.define('page-overview', class extends Page {
  async load() {
    const { samples } = await get('overview');
    this.samples = samples;
    this.events?.close();
    this.events = new EventSource('/console/api/events?topics=overview');
    this.events.addEventListener('overview', (ev) => {
      this.samples.push(JSON.parse(ev.data));
      if (this.samples.length > 720) this.samples.shift();
      this.draw();
    });
    this.grid = h('div', { class: 'cards' });
    this.draw();
    return [this.grid, h('p', { class: 'hint' }, 'Sampled every few seconds; the charts show the last hour and update live.')];
  }

  draw() {
    const last = this.samples[this.samples.length - 1] ?? {};
    this.grid.replaceChildren(...SERIES.map(([key, label]) => h('section', { class: 'card', 'aria-label': label },
      h('h2', {}, label),
      h('p', { class: 'value', 'data-key': key }, String(last[key] ?? 0)),
      lineChart(this.samples.map((s) => [s.t, s[key]]), { label }))));
  }

  disconnectedCallback() {
    this.events?.close();
  }
});

// ---- registrations ----------------------------------------------------------------------------
customElements.define('page-registrations', class extends Page {
  async load() {
    const dump = await rpc('ul.dump');
    const q = this.query ?? '';
    const search = h('form', { role: 'search', class: 'inline', onsubmit: (e) => { e.preventDefault(); this.query = e.target.q.value; this.reload(); } },
      ...field('q', 'Search user', { value: q, type: 'search' }), h('button', { type: 'submit' }, 'Search'));
    const aors = (dump.AoRs ?? []).map((a) => a.Info).filter((i) => i.AoR.includes(q));
    const rows = [];
    for (const info of aors) {
      for (const { Contact: c } of info.Contacts ?? []) {
        rows.push([
          info.AoR,
          h('details', {}, h('summary', {}, c.Address), h('dl', {}, Object.entries(c).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]))),
          String(c.Expires), c['User-Agent'] ?? '', c.Received ?? '',
          isAdmin() ? button('Remove', () => act(this.status, `remove ${info.AoR}`, () => rpc('ul.rm_contact', ['location', info.AoR, c.Address]), () => this.reload()), `Remove contact ${c.Address} of ${info.AoR}`) : '',
        ]);
      }
    }
    return [search, table(`${aors.length} registered users (${dump.Stats?.Records ?? 0} records)`, ['User (AoR)', 'Contact', 'Expires (s)', 'User-Agent', 'Received', ''], rows, 'no registrations'), button('Refresh', () => this.reload())];
  }
});

// ---- dispatcher -------------------------------------------------------------------------------
const STATES = [['a', 'active'], ['i', 'inactive'], ['d', 'disabled'], ['ap', 'active + probing'], ['ip', 'inactive + probing']];

function flagsText(f) {
  const s = String(f);
  const words = { A: 'active', I: 'inactive', D: 'disabled', T: 'trying', P: 'probing' };
  return s.split('').map((c) => words[c] ?? c).join(', ');
}

customElements.define('page-dispatcher', class extends Page {
  async load() {
    let list;
    try {
      list = await rpc('dispatcher.list');
    } catch (e) {
      if (!/No Destination Sets/.test(e.message)) throw e;
      list = { RECORDS: [] };
    }
    const out = [];
    for (const { SET: set } of list.RECORDS ?? []) {
      const rows = (set.TARGETS ?? []).map(({ DEST: d }) => {
        const sel = h('select', { 'aria-label': `State of ${d.URI}` }, STATES.map(([v, t]) => h('option', { value: v }, t)));
        return [d.URI, h('span', { class: `state state-${String(d.FLAGS)[0]}` }, flagsText(d.FLAGS)), String(d.PRIORITY), d.LATENCY ? `${d.LATENCY.AVG} ms avg, ${d.LATENCY.MAX} max` : '', d.ATTRS?.BODY ?? '',
          isAdmin() ? h('span', { class: 'actions' }, sel,
            button('Set state', () => act(this.status, `set ${d.URI}`, () => rpc('dispatcher.set_state', [sel.value, set.ID, d.URI]), () => this.reload()), `Set state of ${d.URI}`),
            button('Remove', () => act(this.status, `remove ${d.URI}`, () => rpc('dispatcher.remove', [set.ID, d.URI]), () => this.reload()), `Remove ${d.URI}`)) : ''];
      });
      out.push(table(`Set ${set.ID}`, ['Destination', 'State', 'Priority', 'Latency', 'Attributes', ''], rows));
    }
    if (out.length === 0) out.push(h('p', {}, 'No destination sets.'));
    if (isAdmin()) {
      const form = h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); act(this.status, `add ${form.uri.value}`, () => rpc('dispatcher.add', [Number(form.set.value), form.uri.value]), () => this.reload()); } },
        ...field('set', 'Set', { type: 'number', min: 0, value: 1, required: true }), ...field('uri', 'Destination URI', { placeholder: 'sip:10.0.0.1:5060', required: true }), h('button', { type: 'submit' }, 'Add destination'));
      out.push(h('h2', {}, 'Add a destination (kept until the next reload)'), form);
    }
    return out;
  }
});

// ---- secfilter --------------------------------------------------------------------------------
const SECF_TYPES = [['ua', 'User-Agent'], ['country', 'Country'], ['domain', 'Domain'], ['ip', 'IP-Address'], ['user', 'Username']];

customElements.define('page-secfilter', class extends Page {
  async load() {
    const [print, stats] = await Promise.all([rpc('secfilter.print'), rpc('secfilter.stats')]);
    const del = (list, type, value) => isAdmin() ? button('Remove', () => act(this.status, `remove ${value}`, () => list === 'dst' ? rpc('secfilter.del_dst', [value]) : rpc(`secfilter.del_${list}`, [type, value]), () => this.reload()), `Remove ${value}`) : '';
    const rows = [];
    for (const [type, key] of SECF_TYPES) {
      for (const v of print[key]?.Blacklisted ?? []) rows.push(['blacklist', key, v, del('bl', type, v)]);
      for (const v of print[key]?.Whitelisted ?? []) rows.push(['whitelist', key, v, del('wl', type, v)]);
    }
    for (const v of print.Destinations?.Blacklisted ?? []) rows.push(['blacklist', 'Destination', v, del('dst', 'dst', v)]);
    const out = [table('Rules', ['List', 'Type', 'Value', ''], rows, 'no rules')];
    if (isAdmin()) {
      const form = h('form', { class: 'inline' },
        h('label', { for: 'list' }, 'List'), h('select', { id: 'list', name: 'list' }, h('option', { value: 'bl' }, 'blacklist'), h('option', { value: 'wl' }, 'whitelist'), h('option', { value: 'dst' }, 'destination blacklist')),
        h('label', { for: 'type' }, 'Type'), h('select', { id: 'type', name: 'type' }, SECF_TYPES.map(([v, t]) => h('option', { value: v }, t))),
        ...field('value', 'Value', { required: true, maxlength: 256 }), h('button', { type: 'submit' }, 'Add rule'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const { list, type, value } = form;
        act(this.status, `add ${value.value}`, () => list.value === 'dst' ? rpc('secfilter.add_dst', [value.value]) : rpc(`secfilter.add_${list.value}`, [type.value, value.value]), () => this.reload());
      });
      out.push(h('h2', {}, 'Add a rule'), form);
    }
    const statRows = [];
    for (const [group, counters] of Object.entries(stats)) for (const [k, v] of Object.entries(counters)) statRows.push([group, k, String(v)]);
    out.push(table('Statistics', ['Group', 'Counter', 'Value'], statRows));
    return out;
  }
});

// ---- pike -------------------------------------------------------------------------------------
customElements.define('page-pike', class extends Page {
  async load() {
    const [blocked, top] = await Promise.all([rpc('pike.list', [100]), rpc('pike.top', ['ALL', 50])]);
    const rows = (blocked.list ?? []).map((b) => [b.ip_addr, String(b.hits_curr), `${b.blocked_for} s`,
      isAdmin() ? button('Unblock', () => act(this.status, `unblock ${b.ip_addr}`, () => rpc('pike.unblock', [b.ip_addr]), () => this.reload()), `Unblock ${b.ip_addr}`) : '']);
    const topRows = (top.list ?? []).map((t) => [t.ip_addr, String(t.leaf_hits_prev), String(t.leaf_hits_curr), t.status || '—', `${t.expires} s`]);
    return [table(`${blocked.blocked ?? rows.length} blocked sources`, ['Source', 'Hits', 'Blocked for', ''], rows, 'nothing blocked'),
      table('Busiest sources', ['Source', 'Hits (previous)', 'Hits (current)', 'Status', 'Expires'], topRows, 'no sources tracked'), button('Refresh', () => this.reload())];
  }
});

// ---- plugins ----------------------------------------------------------------------------------
customElements.define('page-plugins', class extends Page {
  async load() {
    const list = await rpc('plugin.list');
    const rows = list.map((p) => [p.name, p.version, h('span', { class: `state plugin-${p.state}` }, p.state), h('code', { title: p.sha256 }, String(p.sha256).slice(0, 12)),
      String(p.calls), String(p.traps), String(p.gas_avg), `${p.hook_p50_us} / ${p.hook_p99_us} µs`, p.loaded_at]);
    const out = [table('Live versions', ['Plugin', 'Version', 'State', 'SHA-256', 'Calls', 'Traps', 'Gas (avg)', 'Hook p50 / p99', 'Loaded'], rows)];
    if (isAdmin()) {
      const names = [...new Set(list.map((p) => p.name))];
      out.push(h('p', { class: 'actions' }, names.map((n) => button(`Roll back ${n}`, () => act(this.status, `roll back ${n}`, () => rpc('plugin.rollback', [n]), () => this.reload())))));
      const { files } = await get('plugin-files');
      const target = list.find((p) => p.routing && p.state === 'current')?.name ?? names[0] ?? '';
      const form = h('form', { class: 'inline' },
        h('label', { for: 'file' }, 'Built plugin'), h('select', { id: 'file', name: 'file' }, files.map((f) => h('option', { value: f.path }, `${f.name} — ${f.path}`))),
        ...field('as', 'Load as plugin', { value: target, required: true }), h('button', { type: 'submit' }, 'Deploy'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        act(this.status, `deploy ${form.as.value}`, () => rpc('plugin.load', [form.as.value, form.file.value]), () => this.reload());
      });
      out.push(h('h2', {}, 'Deploy a built plugin (from the plugin directories)'), form);
    }
    return out;
  }
});

// ---- CDRs -------------------------------------------------------------------------------------
customElements.define('page-cdrs', class extends Page {
  async load() {
    const cdrs = await rpc('acc.cdrs', [200]);
    const q = this.query ?? '';
    const search = h('form', { role: 'search', class: 'inline', onsubmit: (e) => { e.preventDefault(); this.query = e.target.q.value; this.reload(); } },
      ...field('q', 'Filter (user, Call-ID)', { value: q, type: 'search' }), h('button', { type: 'submit' }, 'Filter'));
    const shown = cdrs.filter((c) => !q || `${c.from_uri} ${c.to_uri} ${c.callid}`.includes(q)).reverse();
    const rows = shown.map((c) => [c.start_time, `${c.duration} s`, `${c.sip_code} ${c.sip_reason}`, c.end_reason, c.from_uri, c.to_uri,
      h('a', { href: `#trace`, onclick: () => sessionStorage.setItem('trace-callid', c.callid) }, c.callid)]);
    return [search, table(`${shown.length} recent calls (newest first)`, ['Start', 'Duration', 'Result', 'Ended by', 'From', 'To', 'Call-ID'], rows, 'no calls'), button('Refresh', () => this.reload())];
  }
});
