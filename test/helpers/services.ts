// The distributed mode's real backing services, for tests: PostgreSQL and Ceph's S3 gateway (radosgw), as
// started by scripts/dev-services.sh (scripts/run-tests.mjs starts them for any selected test file that
// calls requireServices(), and puts their SEGREC_TEST_* variables into the environment).
//   requireServices()        the shared services' settings; throws (never skips) when they are missing
//   s3Client(s3, overrides)  an S3Client set up for RGW (path-style, checksums only when required)
//   freshBucket(s3, prefix)  a new uniquely named bucket, and a cleanup that empties and deletes it
//   freshDatabase(url, p)    a new uniquely named database, and a cleanup that drops it
//   startPrivateRgw()        a second radosgw of the same Ceph cluster, on its own port, to stop/kill/start
//   startPrivatePostgres()   a PostgreSQL cluster of its own (initdb'd in a temp dir), to stop/start
// Fault tests stop and kill only private daemons, so test files running at the same time against the
// shared services are not disturbed. Private daemons are killed when the test process exits, and their
// directories live under SEGREC_TEST_SERVICES_DIR/private when set, so `dev-services.sh stop` also reaps
// what a killed test process left. Nothing here prints a secret (keys, passwords, URLs with credentials).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand,
  ListObjectVersionsCommand, type ListMultipartUploadsCommandOutput, type ListObjectVersionsCommandOutput, S3Client, type ObjectIdentifier, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import pg from 'pg';

export interface S3Settings {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Services {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/DB — a role that may create databases. */
  pgUrl: string;
  s3: S3Settings;
}

const SETUP_HINT = 'Install PostgreSQL and Ceph with `bash scripts/setup.sh --distributed`, then run the tests through ' +
  '`node scripts/run-tests.mjs <filter>` (it starts and stops the services), or start them yourself: ' +
  '`bash scripts/dev-services.sh start && eval "$(bash scripts/dev-services.sh env)"`.';

function missingMessage(names: string[], what: string): string {
  // Set by scripts/run-tests.mjs when it could not start the services.
  const failed = process.env.SEGREC_TEST_SERVICES_ERROR;
  return `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not set: this test needs ${what}. ${failed ? `${failed}.` : SETUP_HINT}`;
}

function needEnv(name: string, what: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(missingMessage([name], what));
  return v;
}

/** The shared services from SEGREC_TEST_* (see scripts/dev-services.sh); throws with what to do when unset. */
export function requireServices(): Services {
  const names = ['SEGREC_TEST_PG_URL', 'SEGREC_TEST_S3_ENDPOINT', 'SEGREC_TEST_S3_ACCESS_KEY', 'SEGREC_TEST_S3_SECRET_KEY'] as const;
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length > 0) throw new Error(missingMessage(missing, 'the distributed-mode services (PostgreSQL and Ceph RGW)'));
  const env = (n: (typeof names)[number]): string => process.env[n] as string;
  return {
    pgUrl: env('SEGREC_TEST_PG_URL'),
    s3: {
      endpoint: env('SEGREC_TEST_S3_ENDPOINT'),
      region: process.env.SEGREC_TEST_S3_REGION || 'us-east-1',
      accessKeyId: env('SEGREC_TEST_S3_ACCESS_KEY'),
      secretAccessKey: env('SEGREC_TEST_S3_SECRET_KEY'),
    },
  };
}

/**
 * An S3Client for RGW: path-style addressing, and request checksums only where S3 requires them — the
 * SDK's default (WHEN_SUPPORTED) sends a stream body as aws-chunked with a trailing checksum, which
 * Ceph 16's RGW refuses (PutObject of a Readable fails with MissingContentLength).
 */
export function s3Client(s3: S3Settings, overrides: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

/** lowercase letters and digits of `prefix` (others become `sep`), cut to `max`, plus a unique suffix. */
function uniqueName(prefix: string, sep: '-' | '_', max: number): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9]+/g, sep).replace(new RegExp(`^\\${sep}+|\\${sep}+$`, 'g'), '');
  const suffix = `${Date.now().toString(36)}${sep}${randomBytes(4).toString('hex')}`;
  return `${(clean || 'segrec').slice(0, max - suffix.length - 1)}${sep}${suffix}`;
}

export interface FreshBucket {
  /** The bucket's name (unique: prefix, time, random). */
  name: string;
  /** A client for it (s3Client's settings); destroyed by cleanup. */
  client: S3Client;
  /** Aborts its unfinished multipart uploads, deletes every object version, then the bucket. */
  cleanup(): Promise<void>;
}

/** Creates a uniquely named bucket; call cleanup() when done (e.g. in t.after). */
export async function freshBucket(s3: S3Settings, prefix = 'segrec-test'): Promise<FreshBucket> {
  const name = uniqueName(prefix, '-', 63);
  const client = s3Client(s3);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  let done = false;
  return {
    name,
    client,
    async cleanup() {
      if (done) return;
      done = true;
      try {
        await emptyBucket(client, name);
        await client.send(new DeleteBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
}

async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  // Each round lists from the start what is left (deleted entries drop out), until nothing is.
  for (;;) {
    const r: ListMultipartUploadsCommandOutput = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    const uploads = r.Uploads ?? [];
    if (uploads.length === 0) break;
    for (const u of uploads) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
  }
  // Versions and delete markers cover an unversioned bucket's objects too (version "null").
  for (;;) {
    const r: ListObjectVersionsCommandOutput = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 }));
    const ids: ObjectIdentifier[] = [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])]
      .map((v) => ({ Key: v.Key, VersionId: v.VersionId }));
    if (ids.length === 0) break;
    const d = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: ids, Quiet: true } }));
    if (d.Errors !== undefined && d.Errors.length > 0) {
      throw new Error(`emptying bucket ${bucket}: ${d.Errors.length} objects not deleted, first: ${d.Errors[0].Key} ${d.Errors[0].Code}`);
    }
  }
}

/** A connection URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export interface FreshDatabase {
  /** The database's name (unique: prefix, time, random). */
  name: string;
  /** pgUrl with the database replaced by this one. */
  url: string;
  /** Drops it (WITH (FORCE): open connections are ended). */
  drop(): Promise<void>;
}

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/** Creates a uniquely named database owned by pgUrl's role; call drop() when done. */
export async function freshDatabase(pgUrl: string, prefix = 'segrec_test'): Promise<FreshDatabase> {
  const name = uniqueName(prefix, '_', 63);
  await withClient(pgUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: u.toString(),
    async drop() {
      if (dropped) return;
      // FORCE ends our connections; an autovacuum worker busy with the new tables only for a role with
      // pg_signal_backend (dev-services.sh grants it; another server's role may lack it: 42501, "must be
      // a member of the role whose process is being terminated", until the worker is done, a moment later).
      for (let tries = 1; ; tries++) {
        try {
          await withClient(pgUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
          dropped = true;
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== '42501' || tries >= 100) throw e;
          await sleep(100);
        }
      }
    },
  };
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Private daemons' directories: SEGREC_TEST_SERVICES_DIR/private (reaped by dev-services.sh stop) or the temp dir. */
function privateDir(prefix: string): string {
  const base = process.env.SEGREC_TEST_SERVICES_DIR ? join(process.env.SEGREC_TEST_SERVICES_DIR, 'private') : tmpdir();
  mkdirSync(base, { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(base, prefix));
  chmodSync(dir, 0o755);
  return dir;
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// What still runs when the test process exits (normally or on SIGINT/SIGTERM) is killed, synchronously.
const atExit = new Set<() => void>();
let exitHooked = false;
function onExit(f: () => void): () => void {
  atExit.add(f);
  if (!exitHooked) {
    exitHooked = true;
    const runAll = () => {
      for (const g of atExit) {
        try { g(); } catch { /* best effort */ }
      }
      atExit.clear();
    };
    process.on('exit', runAll);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        runAll();
        process.kill(process.pid, sig);
      });
    }
  }
  return () => atExit.delete(f);
}

/** Answers any HTTP request (status irrelevant) within 2 s. */
async function httpAnswers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

export interface PrivateRgw {
  /** http://127.0.0.1:PORT — use with the shared S3 credentials: s3Client(s3, { endpoint }). */
  endpoint: string;
  port: number;
  /** SIGTERM, and wait for the exit (SIGKILL after 10 s). No-op when not running. */
  stop(): Promise<void>;
  /**
   * SIGKILL (a crash), wait for the exit, then blocklist its cluster clients so that their watches go at
   * once (else the shared gateway's metadata changes stall until they time out). No-op when not running.
   */
  kill(): Promise<void>;
  /** Starts it again on the same port; resolves once it answers HTTP. No-op when running. */
  start(): Promise<void>;
  /** SIGSTOP: it hangs — connections are accepted by the kernel, nothing is answered — until resume(). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops it and deletes its directory. */
  destroy(): Promise<void>;
  /** The end of its log (for failure messages). */
  logTail(lines?: number): string;
}

let privateCount = 0;
const RGW_READY_MS = 60_000;

function runCeph(conf: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ceph', ['-c', conf, '--connect-timeout', '10', ...args], { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ceph ${args.join(' ')} failed: ${err.message.split('\n')[0]} ${stderr.trim().slice(-500)}`));
      else resolve(stdout);
    });
  });
}

/** The cluster-client addresses (127.0.0.1:0/NONCE) of the mon sessions of `entity` (e.g. client.rgw.x). */
async function clientAddrs(conf: string, entity: string): Promise<string[]> {
  interface Session { entity_name?: string; addrs?: { addrvec?: Array<{ addr: string; nonce: number }> } }
  const sessions = JSON.parse(await runCeph(conf, ['tell', 'mon.a', 'sessions', '-f', 'json'])) as Session[];
  return [...new Set(sessions.filter((x) => x.entity_name === entity)
    .flatMap((x) => (x.addrs?.addrvec ?? []).map((a) => `${a.addr}/${a.nonce}`)))];
}

/**
 * A second radosgw of the shared Ceph cluster (SEGREC_TEST_CEPH_CONF), serving the same buckets and users
 * on a port of its own, with its own run dir, log and pid file in a temp dir; started and answering.
 */
export async function startPrivateRgw(): Promise<PrivateRgw> {
  const conf = needEnv('SEGREC_TEST_CEPH_CONF', 'the shared Ceph cluster (a private radosgw joins it)');
  const port = await freePort();
  const dir = privateDir('segrec-rgw-');
  const log = join(dir, 'radosgw.log');
  const name = `client.rgw.private-${process.pid}-${++privateCount}`;
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  /** Its cluster-client addresses, for blocklisting after a kill. */
  let addrs: string[] = [];

  const running = () => child !== null && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    const c = spawn('radosgw', ['-c', conf, '-n', name, '-f', '--rgw-frontends', `beast endpoint=127.0.0.1:${port}`,
      '--rgw-thread-pool-size', '32', '--run-dir', dir, '--log-file', log, '--admin-socket', '',
      '--pid-file', join(dir, 'radosgw.pid')], { stdio: 'ignore' });
    child = c;
    exited = new Promise<void>((res) => c.once('exit', () => res()));
    let spawnError: Error | null = null;
    c.once('error', (e) => { spawnError = e; });
    const t0 = Date.now();
    while (Date.now() - t0 < RGW_READY_MS) {
      if (spawnError !== null) throw new Error(`could not run radosgw: ${(spawnError as Error).message}. ${SETUP_HINT}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`private radosgw on ${endpoint} exited (code ${c.exitCode}, signal ${c.signalCode}) before answering; log:\n${tail(log)}`);
      }
      if (await httpAnswers(endpoint)) {
        addrs = await clientAddrs(conf, name).catch(() => []);
        return;
      }
      await sleep(100);
    }
    c.kill('SIGKILL');
    throw new Error(`private radosgw on ${endpoint} did not answer within ${RGW_READY_MS / 1000} s; log:\n${tail(log)}`);
  };
  const signal = async (sig: 'SIGTERM' | 'SIGKILL') => {
    if (!running()) return;
    child!.kill(sig);
    const t = sig === 'SIGTERM' ? setTimeout(() => child?.kill('SIGKILL'), 10_000) : undefined;
    await exited;
    if (t !== undefined) clearTimeout(t);
  };
  const forget = onExit(() => {
    if (running()) child!.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    await start();
  } catch (e) {
    forget();
    if (running()) child!.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoint,
    port,
    stop: () => signal('SIGTERM'),
    async kill() {
      if (!running()) return;
      await signal('SIGKILL');
      // Its watches on the gateway control objects outlive it until the OSD times them out (5 s in
      // dev-services.sh's cluster), and until then every other gateway's metadata change (create bucket,
      // …) waits for them; blocklisting the dead client's addresses drops them at once.
      await Promise.all(addrs.map((a) => runCeph(conf, ['osd', 'blocklist', 'add', a]).catch(() => undefined)));
      addrs = [];
    },
    start,
    pause() {
      if (running()) child!.kill('SIGSTOP');
    },
    resume() {
      if (running()) child!.kill('SIGCONT');
    },
    async destroy() {
      if (running()) child!.kill('SIGCONT');
      await signal('SIGTERM');
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
    logTail: (lines = 15) => tail(log, lines),
  };
}

/** The PostgreSQL binaries: SEGREC_TEST_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
function pgBin(): string {
  if (process.env.SEGREC_TEST_PG_BIN) return process.env.SEGREC_TEST_PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions.map((v) => join(base, v, 'bin')).find((b) => existsSync(join(b, 'initdb')));
  if (bin === undefined) throw new Error(`PostgreSQL's initdb is not installed (looked in ${base}/N/bin). ${SETUP_HINT}`);
  return bin;
}

/** As root, PostgreSQL's programs run as the `postgres` user (initdb refuses root). */
const asRoot = process.getuid?.() === 0;

function pgIds(): { uid: number; gid: number } {
  const [uid, gid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, 'postgres'], { encoding: 'utf8' }).trim()));
  return { uid, gid };
}

function runPg(bin: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { cwd: '/', timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin.split('/').pop()} ${args[0] ?? ''} failed: ${err.message.split('\n')[0]}\n${`${stdout}${stderr}`.trim().slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

export interface PrivatePostgres {
  /** postgres://segrec:segrec@127.0.0.1:PORT/segrec (a superuser). */
  url: string;
  port: number;
  /** pg_ctl stop -m fast (waits). No-op when stopped. */
  stop(): Promise<void>;
  /** pg_ctl start on the same port and data (waits until it accepts connections). No-op when running. */
  start(): Promise<void>;
  /** Stops it (immediate) and deletes its data directory. */
  destroy(): Promise<void>;
  /** The end of its server log (for failure messages). */
  logTail(lines?: number): string;
}

const PG_USER = 'segrec';
const PG_PASSWORD = 'segrec';

/**
 * A PostgreSQL cluster of its own: initdb in a temp dir, listening on 127.0.0.1 on a free port (TCP only,
 * no unix socket), fsync off; role and database `segrec` (password `segrec`). Started.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBin();
  const port = await freePort();
  const dir = privateDir('segrec-pg-');
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  if (asRoot) {
    const { uid, gid } = pgIds();
    chownSync(dir, uid, gid);
  }
  const pidFile = join(data, 'postmaster.pid');
  const forget = onExit(() => {
    // Immediate shutdown of a postmaster still running (SIGQUIT), then its files.
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch { /* not running */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const running = () => existsSync(pidFile);
  const start = async () => {
    if (running()) return;
    await runPg(join(bin, 'pg_ctl'), ['start', '-D', data, '-l', log, '-w', '-t', '60']).catch((e: Error) => {
      throw new Error(`${e.message}\nserver log:\n${tail(log)}`);
    });
  };
  try {
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o644 });
    await runPg(join(bin, 'initdb'), ['-D', data, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth-local=trust',
      '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions']);
    rmSync(pwfile);
    appendFileSync(join(data, 'postgresql.conf'), [
      "listen_addresses = '127.0.0.1'", `port = ${port}`, "unix_socket_directories = ''", 'fsync = off',
      'synchronous_commit = off', 'full_page_writes = off', 'shared_buffers = 32MB', 'max_connections = 50', '',
    ].join('\n'));
    await start();
    await withClient(`postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/postgres`,
      (c) => c.query(`CREATE DATABASE ${PG_USER}`));
  } catch (e) {
    forget();
    try {
      if (running()) await runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
    } catch { /* best effort */ }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const stop = async () => {
    if (!running()) return;
    await runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w', '-t', '60']);
  };
  return {
    url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${PG_USER}`,
    port,
    stop,
    start,
    async destroy() {
      if (running()) await runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']).catch(() => undefined);
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
    logTail: (lines = 15) => tail(log, lines),
  };
}
