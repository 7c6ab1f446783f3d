#!/usr/bin/env node
// Before `npm start`: checks that ffmpeg and the build are there, and says exactly what to run if not
// (instead of a stack trace).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const problems = [];
for (const tool of ['ffmpeg', 'ffprobe']) {
  const r = spawnSync(tool, ['-version'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) problems.push(`${tool} is not installed`);
}
if (!existsSync(`${root}dist/cli/main.js`) || !existsSync(`${root}node_modules/better-sqlite3`)) problems.push('the project is not installed/built');
if (problems.length > 0) {
  console.error(`segment-recorder: ${problems.join('; ')}.\nRun:  bash scripts/setup.sh   (installs ffmpeg from Debian's packages as root, or prints the apt-get line; then npm ci)`);
  process.exit(1);
}
