/**
 * `siphon plugin new NAME --dir PATH`: a plugin project of its own, outside the siphon repository
 * (docs/tutorial-plugin.md). It builds and tests with `npm install && npm test` in its folder:
 *
 *   PATH/package.json          devDependencies: @siphon/sdk (file: link to this package's sdk/, there is
 *                              no registry publish), assemblyscript and vitest; scripts build/test/deploy;
 *                              siphon.capabilities (what the sample route calls)
 *   PATH/asconfig.json         the compiler flags the host requires (plain `npx asc --target release` works)
 *   PATH/assembly/index.ts     a sample route on the SDK, re-exporting the ABI entry points
 *   PATH/test/NAME.test.ts     its tests on @siphon/sdk/testing (host/testing)
 *   PATH/README.md, .gitignore
 *
 * assemblyscript and vitest come from the registry (`^` the versions siphon uses), or with --offline
 * as file: links to the copies this siphon package uses, so `npm install` needs no network.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../core/version.js';

/** the SDK package's name and folder (sdk/package.json). */
export const SDK_PACKAGE = '@siphon/sdk';
export const SDK_DIR = path.join(PACKAGE_ROOT, 'sdk');

/** The folder of an installed package as this siphon package resolves it (node_modules walking up), or null. */
function installedPackageDir(name: string): string | null {
  let dir = PACKAGE_ROOT;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** `file:` spec of `target` as npm writes it for a project in `projectDir` (relative, forward slashes). */
function fileSpec(projectDir: string, target: string): string {
  const rel = path.relative(projectDir, target).split(path.sep).join('/');
  return `file:${rel.startsWith('.') ? rel : `./${rel}`}`;
}

/** devDependencies of a new project: the SDK by file:, the compiler and vitest by version or (offline) by file:. */
export function projectDependencies(projectDir: string, offline: boolean): Record<string, string> {
  const deps: Record<string, string> = { [SDK_PACKAGE]: fileSpec(projectDir, SDK_DIR) };
  const siphonPkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  for (const name of ['assemblyscript', 'vitest']) {
    const installed = installedPackageDir(name);
    if (offline) {
      if (installed === null) throw new Error(`--offline: ${name} is not installed next to siphon (${PACKAGE_ROOT}); run npm install there`);
      deps[name] = fileSpec(projectDir, installed);
    } else {
      const version = installed === null ? null : (JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string }).version;
      deps[name] = version !== null ? `^${version}` : (siphonPkg.dependencies?.[name] ?? siphonPkg.devDependencies?.[name] ?? 'latest');
    }
  }
  return deps;
}

export interface ScaffoldResult {
  dir: string;
  files: string[];
}

/** Writes the project into `dir` (which must not exist or be empty). Throws with the reason otherwise. */
export function scaffoldProject(name: string, dir: string, offline: boolean, pluginSource: (sdkImport: string, extraExports: string) => string): ScaffoldResult {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty`);
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        description: `siphon routing plugin ${name}`,
        type: 'module',
        scripts: {
          build: 'siphon-plugin build --project .',
          test: 'npm run build && vitest run',
          deploy: 'siphon-plugin deploy --project .',
        },
        devDependencies: projectDependencies(dir, offline),
        // what the plugin may call (docs/abi/v1.md "Capabilities"): the build refuses an import outside
        // it, and an operator grants these per plugin
        siphon: { capabilities: ['msg.read', 'msg.reply', 'msg.write'] },
      },
      null,
      2,
    )}\n`,
    'asconfig.json': `${JSON.stringify(
      {
        $comment: 'The flags the siphon host requires (docs/abi/v1.md "Module shape"). npm run build compiles with them too and adds the plugin identity section (name, version) and the ABI checks.',
        entries: ['assembly/index.ts'],
        targets: {
          release: { outFile: `build/${name}.wasm`, optimizeLevel: 3, shrinkLevel: 0, noAssert: true },
          debug: { outFile: `build/${name}.wasm`, debug: true, noAssert: false },
        },
        options: { runtime: 'incremental', importMemory: true, noExportMemory: true, disable: ['bulk-memory'] },
      },
      null,
      2,
    )}\n`,
    'assembly/index.ts': pluginSource(SDK_PACKAGE, `\n// the ABI entry points (request_route ...) the host calls: every plugin project re-exports them\nexport * from "${SDK_PACKAGE}/exports";\n`),
    'assembly/tsconfig.json': `${JSON.stringify({ extends: '../node_modules/assemblyscript/std/assembly.json', include: ['./**/*.ts'] }, null, 2)}\n`,
    [`test/${name}.test.ts`]: testTemplate(name),
    'README.md': readmeTemplate(name),
    '.gitignore': 'node_modules/\nbuild/\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text, { flag: 'wx' });
  }
  return { dir, files: Object.keys(files) };
}

function testTemplate(name: string): string {
  return `/**
 * ${name}'s tests: the plugin runs on siphon's own runtime and message path, in-process
 * (@siphon/sdk/testing; the build runs first: npm test = npm run build && vitest run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginTester, sipRequest } from '@siphon/sdk/testing';

let t: PluginTester;
// loading compiles and meters the plugin: seconds on a busy machine, past vitest's 10-s default
beforeAll(async () => {
  t = await PluginTester.load(new URL('../build/${name}.wasm', import.meta.url));
}, 60_000);
afterAll(() => t.close());

describe('${name}', () => {
  it('answers an OPTIONS to the server with 200 and its X-Plugin header', async () => {
    const r = await t.send(sipRequest('OPTIONS', 'sip:127.0.0.1:5060'));
    expect(r.action).toBe('REPLIED');
    expect(r.reply?.code).toBe(200);
    expect(r.reply?.header('x-plugin')).toBe('${name}');
    expect(r.logs.map((l) => l.msg)).toContain('${name}: OPTIONS sip:127.0.0.1:5060 from 127.0.0.1:5080');
  });

  it('answers 404 to a call', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:bob@127.0.0.1'));
    expect(r.reply?.code).toBe(404);
    expect(r.relayed).toEqual([]);
  });

  it('refuses a request out of hops with 483 (RFC 3261 §16.3)', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:bob@127.0.0.1').maxForwardsValue(0));
    expect(r.reply?.code).toBe(483);
  });
});
`;
}

function readmeTemplate(name: string): string {
  return `# ${name}

A siphon routing plugin (AssemblyScript on \`@siphon/sdk\`, ABI v1; the API is the SDK's README).

| step | command |
|---|---|
| install | \`npm install\` |
| build | \`npm run build\` → \`build/${name}.wasm\` |
| test | \`npm test\` (build, then the tests in \`test/\` on \`@siphon/sdk/testing\`) |
| try one message | \`npx siphon-plugin test build/${name}.wasm message.sip\` |
| ship to a running server | \`npm run deploy -- --as ROUTING_PLUGIN --copy-to SERVER_PLUGIN_DIR --ctl unix:/run/siphon/siphon_ctl\` |
| go back | \`npx siphon-plugin rollback ROUTING_PLUGIN --ctl ...\` |

The version \`siphon plugin list\` shows comes from \`package.json\`; bump it with every change.
\`siphon.capabilities\` in \`package.json\` declares what the plugin may call (siphon's docs/abi/v1.md
"Capabilities": \`msg.read\`, \`msg.reply\`, \`msg.write\`, \`relay\`, \`tm\`, \`dispatcher\` ...): the build
refuses an import outside it, and the operator grants these per plugin.
`;
}
