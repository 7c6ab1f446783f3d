// kill -9 of a producer while it uploads a backlog to a real Ceph RGW: after a restart every sealed
// segment is in the store, each object byte-identical to its file (an upload the kill cut short is
// done again: a PutObject is all or nothing; a multipart upload resumes, see s3-store.test.ts), and
// nothing recorded before the kill is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getJson, listSegments, segmentFile, spawnProducerProcess, waitFor, type HealthWire } from '../helpers/producer.js';
import { tempDir } from '../helpers/media.js';
import { freshBucket, requireServices, startPrivateRgw } from '../helpers/services.js';

const md5 = (b: Buffer | Uint8Array) => createHash('md5').update(b).digest('hex');

/** Whether the process has a TCP connection established to 127.0.0.1:port (from /proc: its sockets' inodes in /proc/net/tcp). */
function establishedTo(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`));
    if (m) inodes.add(m[1]);
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length > 9 && f[2] === `0100007F:${hexPort}` && f[3] === '01' && inodes.has(f[9]);
  });
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

test('kill -9 while uploading a backlog: after a restart every segment is in the store, verified', { timeout: 180_000 }, async (t) => {
  const { s3 } = requireServices();
  const bucket = await freshBucket(s3, 'kill9');
  t.after(() => bucket.cleanup());
  const rgw = await startPrivateRgw();
  t.after(() => rgw.destroy());
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const args = ['--data-dir', tmp.dir, '--port', '0', '--segment-seconds', '1', '--testsrc-size', '320x180', '--log-level', 'info',
    '--store', `s3://${bucket.name}/k9`, '--s3-endpoint', rgw.endpoint, '--s3-path-style', 'true', '--s3-region', s3.region];
  // Credentials the AWS way, in the environment (a flag would show them in the process list).
  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  let proc = await spawnProducerProcess(args, env);
  t.after(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL'); });
  const health = async () => (await getJson<HealthWire>(`${proc.url}/health`)).body;
  await waitFor('uploads running', async () => ((await health()).store?.uploaded_segments ?? 0) >= 2, 30_000);
  const cmdline = readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8');
  assert.doesNotMatch(cmdline, new RegExp(s3.secretAccessKey), 'no secret on the command line');

  // A backlog builds while the store is down; then the store comes back but hangs (SIGSTOP: requests are
  // sent, never answered), so uploads are in flight, certainly, when the producer is killed.
  await rgw.stop();
  await waitFor('a backlog of 4 segments', async () => ((await health()).store?.backlog_segments ?? 0) >= 4, 40_000);
  await rgw.start();
  rgw.pause();
  await waitFor('uploads in flight to the hung store', () => establishedTo(proc.child.pid!, rgw.port), 40_000, 50);
  await killHard(proc.child);
  rgw.resume();
  const index = new Database(join(tmp.dir, 'index.sqlite'), { readonly: true });
  const backlogAtKill = index.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM segments WHERE sealed = 1 AND object_key IS NULL').get()!.n;
  const sealedAtKill = index.prepare<[], { path: string }>('SELECT path FROM segments WHERE sealed = 1').all();
  index.close();
  t.diagnostic(`killed with ${backlogAtKill} segments still to upload (uploads in flight), ${sealedAtKill.length} sealed`);
  assert.ok(backlogAtKill > 0, 'the kill came while uploads were pending');

  proc = await spawnProducerProcess(args, env);
  await waitFor('the backlog uploaded after the restart', async () => {
    const h = await health();
    return h.store?.backlog_segments === 0 && h.store.status === 'ok';
  }, 60_000);
  const segs = (await listSegments(proc.url)).segments.filter((s) => s.sealed);
  for (const s of sealedAtKill) assert.ok(segs.some((x) => x.path === s.path), `${s.path}, sealed before the kill, is still there`);
  for (const s of segs) {
    const r = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: `k9/default/${s.path}` }));
    const obj = Buffer.from(await r.Body!.transformToByteArray());
    assert.equal(md5(obj), md5(readFileSync(segmentFile(tmp.dir, s))), `${s.path}: object = file`);
  }
  assert.doesNotMatch(proc.output(), new RegExp(s3.secretAccessKey), 'no secret in the logs');
});
