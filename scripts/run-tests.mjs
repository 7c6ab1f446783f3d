#!/usr/bin/env node
// Runs every test/**/*.test.ts file with Node's own test runner through tsx.
// Node 20 does not expand quoted globs, so the files are listed here. Extra arguments are
// passed through as filters: `node scripts/run-tests.mjs mp4` runs only files whose path contains "mp4";
// `--containing=TEXT` keeps only files whose source contains TEXT (the distributed pass runs the files
// that start a producer with startTestProducer, the helper that puts it on PostgreSQL and S3), and
// `--not=TEXT` leaves out files whose path contains TEXT.
//
// The distributed mode's services (PostgreSQL and Ceph's S3 gateway, scripts/dev-services.sh): the rule
// is that a test file needs them when its source contains `requireServices(` (test/helpers/services.ts).
// When a selected file does, SEGREC_TEST_S3_ENDPOINT is not already set (else the services a developer
// started with dev-services.sh are used as they are) and the services are installed (radosgw, ceph-mon,
// ceph-osd on PATH, PostgreSQL's initdb), this runner starts them once — in a new directory
// $TMPDIR/segrec-services-XXXXXX, on free ports, so that concurrent runs and a developer's own services
// do not collide — puts their SEGREC_TEST_* variables into the test processes' environment, and stops
// them and deletes the directory when the tests end (also on SIGINT/SIGTERM). Not installed: the tests
// that need them fail and say how to install them (bash scripts/setup.sh --distributed). Without such a
// file nothing is started (the cost is reading the selected files). The services of a runner that was
// killed (its pid, in DIR/owner, is gone) are stopped by the next run, whatever that runs.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const CONTAINING = '--containing=';
const args = process.argv.slice(2);
const NOT = '--not=';
const containing = args.filter((a) => a.startsWith(CONTAINING)).map((a) => a.slice(CONTAINING.length));
const excluded = args.filter((a) => a.startsWith(NOT)).map((a) => a.slice(NOT.length));
const filters = args.filter((a) => !a.startsWith(CONTAINING) && !a.startsWith(NOT));
const files = walk(join(root, 'test'))
  .map((p) => relative(root, p))
  .filter((p) => filters.length === 0 || filters.some((f) => p.includes(f)))
  .filter((p) => !excluded.some((text) => p.includes(text)))
  .filter((p) => containing.every((text) => readFileSync(join(root, p), 'utf8').includes(text)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const SERVICES_SCRIPT = join(root, 'scripts', 'dev-services.sh');
const SERVICES_PREFIX = 'segrec-services-';

function onPath(cmd) {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}
function servicesInstalled() {
  const pgBase = '/usr/lib/postgresql';
  const pg = process.env.SEGREC_PG_BIN ? existsSync(join(process.env.SEGREC_PG_BIN, 'initdb'))
    : existsSync(pgBase) && readdirSync(pgBase).some((v) => existsSync(join(pgBase, v, 'bin', 'initdb')));
  return pg && ['radosgw', 'ceph-mon', 'ceph-osd'].every(onPath);
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}
function stopServices(dir) {
  spawnSync('bash', [SERVICES_SCRIPT, 'stop', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(dir, { recursive: true, force: true });
}
/** Services directories of runners that are gone (killed before they could stop their services). */
function reapOrphans() {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(SERVICES_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch { /* no owner file: being created right now, or not ours */ continue; }
    if (owner > 0 && !alive(owner)) {
      console.error(`run-tests: stopping the services left by runner ${owner} (${dir})`);
      stopServices(dir);
    }
  }
}
/** `export NAME='value'` lines of dev-services.sh's env file. */
function parseEnv(text) {
  const env = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)='([^']*)'$/gm)) env[m[1]] = m[2];
  return env;
}

reapOrphans();
const childEnv = { ...process.env };
let servicesDir = null;
// SEGREC_TEST_CATALOG / SEGREC_TEST_STORE run every test producer with the catalog in PostgreSQL / the
// footage in the store (test/helpers/producer.ts): then every file needs them.
const needsServices = !process.env.SEGREC_TEST_S3_ENDPOINT
  && (!!process.env.SEGREC_TEST_CATALOG || !!process.env.SEGREC_TEST_STORE
    || files.some((f) => readFileSync(join(root, f), 'utf8').includes('requireServices(')));
if (needsServices) {
  if (!servicesInstalled()) {
    console.error('run-tests: PostgreSQL/Ceph are not installed, so the tests that need them will fail; ' +
      'install them with: bash scripts/setup.sh --distributed');
  } else {
    servicesDir = mkdtempSync(join(tmpdir(), SERVICES_PREFIX));
    chmodSync(servicesDir, 0o755); // PostgreSQL runs as the postgres user when we are root
    writeFileSync(join(servicesDir, 'owner'), String(process.pid));
    const [pgPort, rgwPort, monPort] = [await freePort(), await freePort(), await freePort()];
    const r = spawnSync('bash', [SERVICES_SCRIPT, 'start', servicesDir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, SEGREC_PG_PORT: String(pgPort), SEGREC_RGW_PORT: String(rgwPort), SEGREC_MON_PORT: String(monPort) },
    });
    if (r.status === 0) {
      Object.assign(childEnv, parseEnv(readFileSync(join(servicesDir, 'env'), 'utf8')));
    } else {
      // The tests still run; requireServices() says why its variables are missing.
      childEnv.SEGREC_TEST_SERVICES_ERROR = `scripts/dev-services.sh start failed (exit ${r.status ?? r.signal}); ` +
        `its logs are in ${servicesDir}/log`;
      spawnSync('bash', [SERVICES_SCRIPT, 'stop', servicesDir], { stdio: ['ignore', 'ignore', 'inherit'] });
      servicesDir = null; // keep the logs; the next run reaps the directory
    }
  }
}

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A file that loads the machine on its own (several producer processes, a dozen ffmpegs: the cluster test)
// says `run-tests: alone` in its source and runs after the others, by itself, so that neither it nor the
// file beside it is timed on a machine the other saturates.
const ALONE = 'run-tests: alone';
const alone = files.filter((f) => readFileSync(join(root, f), 'utf8').includes(ALONE));
const together = files.filter((f) => !alone.includes(f));
const batches = [[together, concurrency], [alone, '1']].filter(([list]) => list.length > 0);
let child = null;
let stopped = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    child?.kill(sig);
    setTimeout(() => child?.kill('SIGKILL'), 15_000).unref();
    stopped = true;
  });
}
// A test file that hangs (a producer's close waiting on something that never comes) is cancelled after
// 15 minutes, named, and the run goes on, instead of holding the whole run until CI kills it (with
// --test, Node's --test-timeout bounds each file; no file takes near that). Node has it since 20.11, 21.2.
// And a file whose tests are all done exits even when something it opened is still open (a failed test
// that never reached its pool's end() held Node 24's pass for 20 minutes): --test-force-exit, since
// 20.14, 22.0.
const [major, minor] = process.versions.node.split('.').map(Number);
const TEST_TIMEOUT_MS = 15 * 60_000;
const timeoutFlag = major > 21 || (major === 21 && minor >= 2) || (major === 20 && minor >= 11) ? [`--test-timeout=${TEST_TIMEOUT_MS}`] : [];
const forceExitFlag = major > 21 || (major === 20 && minor >= 14) ? ['--test-force-exit'] : [];
let exitCode = 0;
for (const [list, n] of batches) {
  if (stopped) break;
  child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${n}`, ...timeoutFlag, ...forceExitFlag, ...list],
    { stdio: 'inherit', cwd: root, env: childEnv },
  );
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  if (code !== 0) exitCode = code;
}
if (servicesDir !== null) stopServices(servicesDir);
process.exit(exitCode);
