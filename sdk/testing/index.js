/**
 * `@siphon/sdk/testing`: the plugin testing library of the siphon host (host/testing/README.md),
 * which runs a plugin on the host's own runtime. The SDK ships inside the siphon package (sdk/), so
 * the host is found next to it (../../dist); an SDK installed on its own finds the `siphon` package
 * the project depends on.
 */
import { fileURLToPath } from 'node:url';

async function host() {
  const inside = new URL('../../dist/host/testing/index.js', import.meta.url);
  try {
    return await import(inside.href);
  } catch (e) {
    // only "the host is not next to the SDK" falls through; an error inside the host is reported
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes(fileURLToPath(inside))) throw e;
    try {
      return await import('siphon/testing');
    } catch (e2) {
      if (e2?.code !== 'ERR_MODULE_NOT_FOUND') throw e2;
      throw new Error(
        '@siphon/sdk/testing needs the siphon host: install the SDK from a siphon package (file:<siphon>/sdk) ' +
          'or add siphon to the project\'s dependencies (and run its build: dist/ must exist)',
      );
    }
  }
}

const h = await host();
export const { PluginTester, RequestBuilder, sipRequest, toWire, parseRequest, actionName, diffMessage } = h;
