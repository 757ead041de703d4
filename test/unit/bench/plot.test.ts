/**
 * bench/plot.mjs (issue #13): the data → SVG mapping of the load-sweep plot. The SVG is parsed
 * (test/helpers/xml.ts, strict), and every polyline point is read back through the panel's own
 * printed tick labels — the way a reader reads the picture — so the test checks that the points sit
 * where the axes say their values are, without fixing the layout's pixel constants.
 */
import { describe, expect, it } from 'vitest';
import { findAll, parseXml, type XmlElement } from '../../helpers/xml.js';
// @ts-expect-error plain ESM script without type declarations
import { P99_FLOOR_MS, defaultPlotName, parseSweepCsv, renderSweepSvg } from '../../../bench/plot.mjs';

const COLUMNS = 'case,server,pct,offered_cps,duration_s,successful,failed,unfinished,failed_pct,achieved_cps,p50_ms,p99_ms,bye_p50_ms,bye_p99_ms,retrans,server_cpu_s,cpu_s_per_1k,sipp_cpu_pct,sustainable,error,out';
/** two servers, three offered rates each; one run did not start, one had no successful call. */
const CSV = [
  '# siphon side-by-side load sweep',
  '# command: SWEEP_REF=200 SWEEP="50 100 200" STEP_DUR=2 bench/side-by-side.sh options <both> & more',
  '# date: 2026-12-06T10:11:12Z',
  '# ref_cps: 200 (SWEEP_REF)',
  COLUMNS,
  'options,kamailio,50,100,2,200,0,0,0.000,99,0,0,,,0,0.02,0.1000,10,yes,,/r/1',
  'options,siphon,50,100,2,200,0,0,0.000,100,0,3,,,0,0.05,0.2500,10,yes,,/r/2',
  'options,kamailio,100,200,2,380,0,20,5.000,190,1,12,,,4,0.04,0.1053,12,no,,/r/3',
  'options,siphon,100,200,2,300,0,100,25.000,150,40,250,,,9,0.09,0.3000,12,no,,/r/4',
  'options,kamailio,200,400,2,,,,,,,,,,,,,,,start_failed,',
  'options,siphon,200,400,2,0,800,0,100.000,0.0,,,,,12,0.11,,14,no,,/r/6',
].join('\n');

/** (offered, achieved, p99) the plot must show per server: the 400/s runs have no successful call. */
const EXPECTED: Record<string, Array<[number, number, number]>> = {
  kamailio: [[100, 99, P99_FLOOR_MS], [200, 190, 12]],
  siphon: [[100, 100, 3], [200, 150, 250]],
};

const svg = parseXml(renderSweepSvg(parseSweepCsv(CSV)));
const byClass = (el: XmlElement, cls: string) => findAll(el, (e) => e.attrs.class === cls);
const panel = (id: string) => findAll(svg, (e) => e.name === 'g' && e.attrs.id === id)[0]!;

/** pixel = a + b·f(value), fitted on the axis' printed tick labels (first and last), checked on all. */
function axis(p: XmlElement, cls: 'x-axis' | 'y-axis', f: (v: number) => number): (v: number) => number {
  const coord = cls === 'x-axis' ? 'x' : 'y';
  const ticks = findAll(byClass(p, cls)[0]!, (e) => e.name === 'text' && e.attrs.class !== 'axis-title')
    .map((t) => ({ v: Number(t.text.replace(/,/g, '')), px: Number(t.attrs[coord]) }));
  expect(ticks.length).toBeGreaterThanOrEqual(2);
  const [lo, hi] = [ticks[0]!, ticks[ticks.length - 1]!];
  const b = (hi.px - lo.px) / (f(hi.v) - f(lo.v));
  const map = (v: number) => lo.px + b * (f(v) - f(lo.v));
  for (const t of ticks) expect(t.px).toBeCloseTo(map(t.v), 1);
  return map;
}

function series(p: XmlElement, server: string) {
  const g = findAll(p, (e) => e.attrs.class === 'series' && e.attrs['data-server'] === server)[0]!;
  const line = findAll(g, (e) => e.name === 'polyline')[0]!;
  const points = line.attrs.points!.split(' ').map((xy) => xy.split(',').map(Number) as [number, number]);
  return { g, line, points };
}

describe('bench/plot.mjs sweep SVG', () => {
  it('is well-formed SVG with a title, both panels, a legend and the run in its caption', () => {
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.attrs.viewBox).toMatch(/^0 0 \d+ \d+$/);
    expect(findAll(svg, (e) => e.name === 'title')[0]!.text).toContain('options');
    expect(panel('rate')).toBeDefined();
    expect(panel('p99')).toBeDefined();
    const legend = byClass(svg, 'legend')[0]!;
    expect(findAll(legend, (e) => e.name === 'text').map((t) => t.text)).toEqual(['Kamailio', 'siphon']);
    const caption = findAll(byClass(svg, 'caption')[0]!, (e) => e.name === 'text').map((t) => t.text).join(' ');
    expect(caption).toContain('bench/side-by-side.sh options <both> & more');   // escaped in the file, decoded here
    expect(caption).toContain('2026-12-06T10:11:12Z');
  });

  /** every server's polyline in panel `id` sits at (offered, value) as read through the printed axes. */
  function expectPointsOnAxes(id: string, yScale: (v: number) => number, value: 1 | 2): void {
    const p = panel(id);
    const [x, y] = [axis(p, 'x-axis', (v) => v), axis(p, 'y-axis', yScale)];
    for (const [server, pts] of Object.entries(EXPECTED)) {
      const { points } = series(p, server);
      expect(points).toHaveLength(pts.length);
      points.forEach(([px, py], i) => {
        expect(px).toBeCloseTo(x(pts[i]![0]), 1);
        expect(py).toBeCloseTo(y(pts[i]![value]), 1);
      });
    }
  }

  it('draws successful calls/s against offered calls/s at the positions the axes print', () => {
    expectPointsOnAxes('rate', (v) => v, 1);
  });

  it('draws p99 on a log axis, a p99 under SIPp resolution at the floor', () => {
    expectPointsOnAxes('p99', Math.log10, 2);
  });

  it('gives each server its own colour, dash and marker shape, one marker per point', () => {
    const p = panel('rate');
    const [k, s] = [series(p, 'kamailio'), series(p, 'siphon')];
    expect(k.line.attrs.stroke).not.toBe(s.line.attrs.stroke);
    expect(k.line.attrs['stroke-dasharray']).not.toBe(s.line.attrs['stroke-dasharray']);
    const markers = (g: XmlElement) => findAll(g, (e) => e.attrs.class === 'marker');
    expect(markers(k.g).map((m) => m.name)).toEqual(['circle', 'circle']);
    expect(markers(s.g).map((m) => m.name)).toEqual(['rect', 'rect']);
    markers(k.g).forEach((m, i) => expect([Number(m.attrs.cx), Number(m.attrs.cy)]).toEqual(k.points[i]));
  });

  it('names the file after the case and the run start (UTC), so two runs on one day keep two plots', () => {
    expect(defaultPlotName(parseSweepCsv(CSV))).toBe('options-2026-12-06-1011.svg');
  });

  it('refuses a file without the columns it plots', () => {
    expect(() => parseSweepCsv('case,server,offered_cps\noptions,siphon,100')).toThrow(/achieved_cps/);
  });
});
