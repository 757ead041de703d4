#!/usr/bin/env node
// Plot a load sweep of bench/side-by-side.sh (SWEEP=..., issue #13) as a hand-written SVG.
//
//   node bench/plot.mjs SWEEP.csv [--out-dir DIR | -o FILE.svg]
//
// Two panels, one line per server: successful calls/s against offered calls/s (with the
// "everything answered" diagonal), and SIPp's p99 response time (log scale) against offered
// calls/s. The caption carries the run's command and date from the CSV's "# key: value" lines.
// Default output: bench/plots/<case>-<YYYY-MM-DD>-<HHMM>.svg, the run's start (UTC): several runs of
// a case on one day each keep their plot. No dependencies.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), each with its own
 *  marker and dash pattern so the lines also read in grey. */
const STYLES = [
  { colour: '#0072B2', marker: 'circle', dash: '' },
  { colour: '#D55E00', marker: 'square', dash: '6 3' },
  { colour: '#009E73', marker: 'triangle', dash: '2 3' },
  { colour: '#CC79A7', marker: 'diamond', dash: '8 3 2 3' },
];
const KNOWN = { kamailio: 0, siphon: 1 };
const SERVER_LABEL = { kamailio: 'Kamailio', siphon: 'siphon' };

/** Panel geometry (px). Exported so the test can name the panels, not to compare coordinates. */
export const LAYOUT = { width: 960, panelW: 380, panelH: 280, top: 70, left: [80, 545], captionGap: 62 };
/** SIPp measures response times in whole milliseconds: a p99 below 1 ms is drawn at 1 ms. */
export const P99_FLOOR_MS = 1;

/** Parse the sweep CSV: "# key: value" lines into meta, the first other line is the header. */
export function parseSweepCsv(text) {
  const meta = {};
  let header = null;
  const rows = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*([\w-]+):\s*(.*)$/.exec(line);
      if (m) meta[m[1]] = m[2];
      continue;
    }
    const cells = line.split(',');
    if (header === null) { header = cells; continue; }
    const row = {};
    header.forEach((h, i) => { row[h] = cells[i] ?? ''; });
    rows.push(row);
  }
  if (header === null) throw new Error('plot: no header line in the sweep file');
  for (const col of ['case', 'server', 'offered_cps', 'achieved_cps', 'p99_ms']) {
    if (!header.includes(col)) throw new Error(`plot: column ${col} missing`);
  }
  return { meta, rows };
}

const num = (v) => (v === undefined || v === '' ? NaN : Number(v));

/** server → points sorted by offered load. A run without successful calls has no achieved rate
 *  or latency (it failed or the server did not start) and is left out of both panels. */
export function sweepSeries(rows) {
  const series = new Map();
  for (const r of rows) {
    const offered = num(r.offered_cps);
    const achieved = num(r.achieved_cps);
    if (!(offered > 0) || !(num(r.successful) > 0) || !Number.isFinite(achieved)) continue;
    const p99 = num(r.p99_ms);
    const pts = series.get(r.server) ?? [];
    pts.push({ offered, achieved, p99: Number.isFinite(p99) ? Math.max(p99, P99_FLOOR_MS) : NaN });
    series.set(r.server, pts);
  }
  for (const pts of series.values()) pts.sort((a, b) => a.offered - b.offered);
  return new Map([...series].sort(([a], [b]) => (KNOWN[a] ?? 9) - (KNOWN[b] ?? 9) || a.localeCompare(b)));
}

/** 1-2-5 ticks from 0 to at least max. */
export function linearTicks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < max + step; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten from 1 up to at least max. */
export function logTicks(max) {
  const ticks = [1];
  while (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] * 10);
  if (ticks.length === 1) ticks.push(10);
  return ticks;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v) => v.toLocaleString('en-US', { maximumFractionDigits: 2 });
const px = (v) => Number(v.toFixed(2));

function marker(kind, x, y, colour) {
  const s = 4.5;
  const attrs = `class="marker" fill="${colour}" stroke="#fff" stroke-width="1"`;
  switch (kind) {
    case 'circle': return `<circle ${attrs} cx="${x}" cy="${y}" r="${s}"/>`;
    case 'square': return `<rect ${attrs} x="${px(x - s)}" y="${px(y - s)}" width="${2 * s}" height="${2 * s}"/>`;
    case 'triangle': return `<polygon ${attrs} points="${x},${px(y - s - 1)} ${px(x + s + 1)},${px(y + s)} ${px(x - s - 1)},${px(y + s)}"/>`;
    default: return `<polygon ${attrs} points="${x},${px(y - s - 1)} ${px(x + s + 1)},${y} ${x},${px(y + s + 1)} ${px(x - s - 1)},${y}"/>`;
  }
}

/** One panel: frame, grid, tick labels (the value as printed), axis titles, one polyline + markers
 *  per server. y maps a value to a pixel row; null leaves the point out. */
function panel({ id, x0, title, xLabel, yLabel, xTicks, yTicks, xOf, yOf, series, pick, extra = '' }) {
  const { panelW: w, panelH: h, top } = LAYOUT;
  const out = [`<g class="panel" id="${id}">`, `<text class="panel-title" x="${x0 + w / 2}" y="${top - 12}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  out.push(`<g class="x-axis">`);
  for (const t of xTicks) {
    const x = px(xOf(t));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + h}" stroke="#ddd"/><text x="${x}" y="${top + h + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<text class="axis-title" x="${x0 + w / 2}" y="${top + h + 36}" text-anchor="middle">${esc(xLabel)}</text></g>`);
  out.push(`<g class="y-axis">`);
  for (const t of yTicks) {
    const y = px(yOf(t));
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#ddd"/><text x="${x0 - 6}" y="${y}" dy="0.32em" text-anchor="end">${fmt(t)}</text>`);
  }
  out.push(`<text class="axis-title" transform="translate(${x0 - 58} ${top + h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text></g>`);
  out.push(`<rect x="${x0}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`, extra);
  for (const [server, pts] of series) {
    const st = styleOf(server, series);
    const xy = pts.filter((p) => Number.isFinite(pick(p))).map((p) => [px(xOf(p.offered)), px(yOf(pick(p)))]);
    if (xy.length === 0) continue;
    out.push(`<g class="series" data-server="${esc(server)}">`,
      `<polyline fill="none" stroke="${st.colour}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''} points="${xy.map(([x, y]) => `${x},${y}`).join(' ')}"/>`,
      ...xy.map(([x, y]) => marker(st.marker, x, y, st.colour)), '</g>');
  }
  out.push('</g>');
  return out.join('\n');
}

function styleOf(server, series) {
  const known = KNOWN[server];
  if (known !== undefined) return STYLES[known];
  const others = [...series.keys()].filter((s) => KNOWN[s] === undefined);
  return STYLES[(2 + others.indexOf(server)) % STYLES.length];
}

/** Split a long caption line at spaces so it stays inside the picture. */
function wrap(text, max = 150) {
  const lines = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > max) { lines.push(cur); cur = '  ' + word; } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  return lines;
}

/** The SVG for one sweep file (all rows of one case). */
export function renderSweepSvg({ meta, rows }) {
  const series = sweepSeries(rows);
  const all = [...series.values()].flat();
  const caseName = rows[0]?.case ?? meta.case ?? 'sweep';
  const { width, panelW: w, panelH: h, top, left } = LAYOUT;
  const maxOffered = Math.max(1, ...all.map((p) => p.offered));
  const xTicks = linearTicks(maxOffered);
  const xMax = xTicks[xTicks.length - 1];
  const rateTicks = linearTicks(Math.max(maxOffered, ...all.map((p) => p.achieved)));
  const rateMax = rateTicks[rateTicks.length - 1];
  const p99s = all.map((p) => p.p99).filter(Number.isFinite);
  const pTicks = logTicks(Math.max(P99_FLOOR_MS, ...p99s));
  const pMax = pTicks[pTicks.length - 1];
  const xOf = (x0) => (v) => x0 + (v / xMax) * w;
  const rateY = (v) => top + h - (v / rateMax) * h;
  const p99Y = (v) => top + h - (Math.log10(v) / Math.log10(pMax)) * h;
  const [xa, xb] = [xOf(left[0]), xOf(left[1])];
  const diagEnd = Math.min(xMax, rateMax);
  // the "every offered call succeeded" diagonal, explained by a key in the panel's empty upper-left corner
  const diagonal = `<line class="diagonal" x1="${px(xa(0))}" y1="${px(rateY(0))}" x2="${px(xa(diagEnd))}" y2="${px(rateY(diagEnd))}" stroke="#888" stroke-dasharray="3 3"/>` +
    `<line x1="${left[0] + 10}" y1="${top + 16}" x2="${left[0] + 34}" y2="${top + 16}" stroke="#888" stroke-dasharray="3 3"/>` +
    `<text x="${left[0] + 40}" y="${top + 16}" dy="0.32em" fill="#555">successful = offered</text>`;
  const title = `${caseName}: ${[...series.keys()].map((s) => SERVER_LABEL[s] ?? s).join(' vs ')}, offered load sweep${meta.ref_cps ? ` (100 % = ${meta.ref_cps.split(' ')[0]} calls/s)` : ''}`;

  const legendY = top + h + 52;
  const legend = [...series.keys()].map((s, i) => {
    const st = styleOf(s, series);
    const x = left[0] + i * 160;
    return `<g class="legend-item"><line x1="${x}" y1="${legendY}" x2="${x + 30}" y2="${legendY}" stroke="${st.colour}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>` +
      `${marker(st.marker, x + 15, legendY, st.colour)}<text x="${x + 38}" y="${legendY}" dy="0.32em">${esc(SERVER_LABEL[s] ?? s)}</text></g>`;
  }).join('\n');

  const caption = [
    ...wrap(`Command: ${meta.command ?? '(not recorded)'}`),
    ...wrap(`Date: ${meta.date ?? '?'}${meta.machine ? `; ${meta.machine}` : ''}`),
    'p99: SIPp response time of the successful calls (1 ms resolution; below 1 ms drawn at 1 ms). Runs without a successful call are left out.',
  ];
  const captionY = top + h + LAYOUT.captionGap + 20;
  const height = captionY + caption.length * 16 + 10;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="12">`,
    `<title id="title">${esc(title)}</title>`,
    `<desc id="desc">Left: successful calls per second against offered calls per second. Right: 99th percentile response time in milliseconds, log scale, against offered calls per second. One line per server.</desc>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    panel({ id: 'rate', x0: left[0], title: 'Successful calls/s', xLabel: 'offered calls/s', yLabel: 'successful calls/s',
      xTicks, yTicks: rateTicks, xOf: xa, yOf: rateY, series, pick: (p) => p.achieved, extra: diagonal }),
    panel({ id: 'p99', x0: left[1], title: 'p99 response time (log scale)', xLabel: 'offered calls/s', yLabel: 'p99 (ms)',
      xTicks, yTicks: pTicks, xOf: xb, yOf: p99Y, series, pick: (p) => p.p99 }),
    `<g class="legend">${legend}</g>`,
    `<g class="caption" fill="#333">${caption.map((l, i) => `<text x="20" y="${captionY + i * 16}">${esc(l)}</text>`).join('')}</g>`,
    '</svg>',
    '',
  ].join('\n');
}

/** bench/plots/<case>-<YYYY-MM-DD>-<HHMM>.svg, the run's start from the file's "# date:" line (UTC). */
export function defaultPlotName({ meta, rows }) {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(meta.date ?? new Date().toISOString());
  const when = m ? `${m[1]}-${m[2]}${m[3]}` : new Date().toISOString().slice(0, 10);
  return `${rows[0]?.case ?? 'sweep'}-${when}.svg`;
}

function main(argv) {
  const file = argv.find((a, i) => !a.startsWith('-') && !['-o', '--out-dir'].includes(argv[i - 1]));
  if (!file) {
    console.error('usage: node bench/plot.mjs SWEEP.csv [--out-dir DIR | -o FILE.svg]');
    process.exit(2);
  }
  const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const data = parseSweepCsv(readFileSync(file, 'utf8'));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = opt('-o') ?? path.join(opt('--out-dir') ?? path.join(here, 'plots'), defaultPlotName(data));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderSweepSvg(data));
  console.log(`plot: ${out}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
