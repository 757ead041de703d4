// A tiny hand-written SVG line chart for the overview (no library): one series, its last-hour
// samples, a baseline, the maximum as a label. Accessible name: the caller's label + current value.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** an <svg> drawing `points` ([t, value] pairs, oldest first) over the last `spanMs`. */
export function lineChart(points, { label, spanMs = 3_600_000, width = 320, height = 90 }) {
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart' });
  const last = points.length ? points[points.length - 1][1] : 0;
  const title = svg('title', {});
  title.textContent = `${label}: ${last} now, ${points.length} samples over the last hour`;
  root.append(title);
  const pad = 4;
  const top = 14;
  const max = Math.max(1, ...points.map((p) => p[1]));
  const now = points.length ? points[points.length - 1][0] : Date.now();
  const x = (t) => pad + ((width - 2 * pad) * (spanMs - (now - t))) / spanMs;
  const y = (v) => height - pad - ((height - pad - top) * v) / max;
  root.append(svg('line', { x1: pad, x2: width - pad, y1: height - pad, y2: height - pad, class: 'axis' }));
  const maxLabel = svg('text', { x: pad, y: 10, class: 'axis-label' });
  maxLabel.textContent = `max ${Math.round(max * 100) / 100}`;
  root.append(maxLabel);
  if (points.length > 1) {
    const d = points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points: d, class: 'series' }));
  }
  return root;
}
