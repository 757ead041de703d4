/** host/metrics: the exposition is valid and the hot-path instruments add up. */
import { describe, expect, it } from 'vitest';
import { HOOK_BUCKETS, SiphonMetrics } from '../../../host/metrics/metrics.js';

function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

describe('SiphonMetrics', () => {
  it('uses a private registry: two instances do not collide and nothing lands in the global one', async () => {
    const a = new SiphonMetrics({ defaultMetrics: false });
    const b = new SiphonMetrics({ defaultMetrics: false });
    a.requestIn('BYE');
    expect(series(await a.text(), 'siphon_sip_requests_total').get('{direction="in",method="BYE"}')).toBe(1);
    expect(series(await b.text(), 'siphon_sip_requests_total').get('{direction="in",method="BYE"}')).toBe(0);
    const { register } = await import('prom-client');
    expect(await register.getSingleMetric('siphon_sip_requests_total')).toBeUndefined();
  });

  it('exports every method/class series from the start (rate() works from the first scrape)', async () => {
    const text = await new SiphonMetrics({ defaultMetrics: false }).text();
    const req = series(text, 'siphon_sip_requests_total');
    expect(req.size).toBe(2 * 15);
    expect([...req.values()].every((v) => v === 0)).toBe(true);
    expect(series(text, 'siphon_sip_replies_total').size).toBe(2 * 7);
    expect(text).toContain('# TYPE siphon_sip_requests_total counter');
  });

  it('counts status classes, out-of-range codes and unknown methods', async () => {
    const m = new SiphonMetrics({ defaultMetrics: false });
    for (const s of [100, 180, 200, 302, 404, 488, 503, 603, 99, 700]) m.replyIn(s);
    m.requestOut('X-CUSTOM');
    m.parseError('tcp');
    m.parseError('ws');
    const text = await m.text();
    const rep = series(text, 'siphon_sip_replies_total');
    expect(rep.get('{direction="in",class="1xx"}')).toBe(2);
    expect(rep.get('{direction="in",class="4xx"}')).toBe(2);
    expect(rep.get('{direction="in",class="other"}')).toBe(2);
    expect(series(text, 'siphon_sip_requests_total').get('{direction="out",method="other"}')).toBe(1);
    const pe = series(text, 'siphon_sip_parse_errors_total');
    expect(pe.get('{proto="tcp"}')).toBe(1);
    expect(pe.get('{proto="ws"}')).toBe(1);
  });

  it('renders a cumulative histogram with +Inf, sum and count', async () => {
    const m = new SiphonMetrics({ defaultMetrics: false });
    const h = m.hook('p', 'on_request');
    for (const s of [0.000001, 0.00001, 0.00003, 0.002, 1]) h.observe(s);
    const text = await m.text();
    const b = series(text, 'siphon_plugin_hook_duration_seconds_bucket');
    expect(b.size).toBe(HOOK_BUCKETS.length + 1);
    expect(b.get('{le="0.00001",plugin="p",hook="on_request"}')).toBe(2); // le is inclusive
    expect(b.get('{le="0.00005",plugin="p",hook="on_request"}')).toBe(3);
    expect(b.get('{le="0.0025",plugin="p",hook="on_request"}')).toBe(4);
    expect(b.get('{le="+Inf",plugin="p",hook="on_request"}')).toBe(5);
    expect(series(text, 'siphon_plugin_hook_duration_seconds_count').get('{plugin="p",hook="on_request"}')).toBe(5);
    expect(series(text, 'siphon_plugin_hook_duration_seconds_sum').get('{plugin="p",hook="on_request"}')).toBeCloseTo(1.002041, 6);
    expect(text).toContain('# TYPE siphon_plugin_hook_duration_seconds histogram');
  });

  it('module statistics follow the provider and disappear with it', async () => {
    const m = new SiphonMetrics({ defaultMetrics: false });
    const counters = { hits: 1 };
    const p = { name: 'pike', statistics: () => counters };
    m.addStatisticsProvider(p);
    counters.hits = 5;
    expect(series(await m.text(), 'siphon_module_statistic').get('{module="pike",name="hits"}')).toBe(5);
    m.removeStatisticsProvider(p);
    expect(series(await m.text(), 'siphon_module_statistic').size).toBe(0);
  });
});
