/**
 * In-process fuzzing of parseMessage and frameStream with seeded mutations of every conformance
 * message (test/helpers/mutate.ts). Asserts: nothing throws; every failure has a status from the
 * set the server knows how to answer, a non-empty reason, and a partial only for answerable
 * requests; every success has its routing headers; and toBuffer() of a success reparses.
 */
import { sharedDir } from '../../helpers/shared.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import { frameStream } from '../../../host/sip/framing.js';
import { mulberry32, mutate } from '../../helpers/mutate.js';

const ROOT = path.join(sharedDir(), 'conformance');
const seeds: Buffer[] = [];
for (const dir of ['rfc4475', 'rfc3261-3665', 'npm-sip-message-examples']) {
  for (const f of readdirSync(path.join(ROOT, dir)).sort()) seeds.push(readFileSync(path.join(ROOT, dir, f)));
}

const STATUSES = new Set([0, 400, 416, 505, 513]);
const ITERATIONS = 120_000;
const SEED = 0x5eed5; // change to explore; a failure message names the iteration

test(`parseMessage survives ${ITERATIONS} seeded mutations`, () => {
  const rng = mulberry32(SEED);
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(seeds[i % seeds.length]!, rng);
    let r;
    try {
      r = parseMessage(input);
    } catch (e) {
      throw new Error(`iteration ${i} threw: ${String(e)}\n${input.toString('latin1').slice(0, 400)}`);
    }
    if (r.ok) {
      ok++;
      const m = r.message;
      if (m.vias.length === 0 || m.cseq === undefined || m.callId === '' || m.from === undefined || m.to === undefined) {
        throw new Error(`iteration ${i}: accepted without routing headers`);
      }
      if (i % 16 === 0) {
        // serialization after an edit must reparse
        m.setHeader('X-Fuzz', String(i));
        const again = parseMessage(m.toBuffer());
        if (!again.ok) throw new Error(`iteration ${i}: edited message does not reparse: ${again.failure.detail}`);
      }
    } else {
      failed++;
      const f = r.failure;
      if (!STATUSES.has(f.status) || f.reason.length === 0) throw new Error(`iteration ${i}: bad failure ${JSON.stringify(f)}`);
      // the catch-all in parseMessage hides bugs: it must never be what answered
      if (f.detail.startsWith('parser error')) throw new Error(`iteration ${i}: ${f.detail}\n${input.toString('latin1').slice(0, 400)}`);
      if (f.status > 0) {
        const p = f.partial;
        if (p === undefined || p.kind !== 'request' || p.vias.length === 0) throw new Error(`iteration ${i}: status ${f.status} without a usable partial`);
      }
      if (f.partial !== undefined) {
        // the reply builder reads these; they must not throw
        void [f.partial.header('from'), f.partial.header('to'), f.partial.callId, f.partial.header('cseq'), f.partial.method];
      }
    }
  }
  // the mutations must exercise both paths
  expect(ok).toBeGreaterThan(ITERATIONS / 20);
  expect(failed).toBeGreaterThan(ITERATIONS / 4);
}, 120_000);

test('frameStream survives 30000 seeded mutations and never over-reads', () => {
  const rng = mulberry32(SEED + 1);
  for (let i = 0; i < 30_000; i++) {
    const input = mutate(seeds[i % seeds.length]!, rng);
    const offset = rng() < 0.2 ? Math.floor(rng() * input.length) : 0;
    const f = frameStream(input, offset);
    if ('length' in f) {
      if (!(f.length > 0 && offset + f.length <= input.length)) throw new Error(`iteration ${i}: bad length ${f.length}`);
    } else if ('error' in f) {
      expect(f.error.length).toBeGreaterThan(0);
    } else {
      expect(f.need).toBe('more');
    }
  }
});
