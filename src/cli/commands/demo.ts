// `segrec demo` (what `npm start` runs): the producer on its built-in test camera plus the motion
// pipeline in one process. The test camera shows an object moving for a few seconds every 20 s, so
// within a minute clips of real motion events appear in DATA/clips/ with their sidecars, while the
// terminal tells what happens: segments sealed, events, clips with duration and path.
import { join } from 'node:path';
import { OptionsError, parseProducerArgs } from '../../producer/options.js';
import { startProducer } from '../../producer/app.js';
import { createLogger } from '../../common/log.js';
import { EXIT } from '../client.js';
import { dur, size } from '../format.js';
import { runMotion } from './motion.js';
import { startFailure } from '../producer-cmd.js';

export default async function demoCommand(argv: string[]): Promise<number> {
  let input;
  try {
    input = parseProducerArgs(argv);
  } catch (e) {
    if (e instanceof OptionsError || e instanceof Error) {
      process.stderr.write(`segrec demo: ${e.message} (demo takes the producer's flags; see segrec producer --help)\n`);
      return EXIT.usage;
    }
    throw e;
  }
  const print = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)}  ${line}\n`);
  let handle;
  try {
    handle = await startProducer({ ...input, logger: input.logger ?? createLogger({ level: 'warn' }) });
  } catch (e) {
    process.stderr.write(`segrec demo: ${startFailure(e)}\n`);
    return e instanceof OptionsError ? EXIT.usage : EXIT.failed;
  }
  const p = handle.producer;
  const clipsDir = p.options.clipRoots[0];
  print(`recording ${p.sourceForDisplay} into ${p.options.dataDir} — web page and API at ${handle.url}`);
  print(`clips of motion events will appear in ${clipsDir} (Ctrl-C to stop)`);
  p.events.on('segment-sealed', (s) => print(`segment sealed ${s.path}: ${dur((s.stop_pts_ns - s.start_pts_ns) / 1e6)}, ${s.frames} frames, ${size(s.bytes)}`));
  p.events.on('gap', (g) => print(`gap in recording: ${dur((g.stopNs - g.startNs) / 1e6)} (${g.reason})`));
  const ac = new AbortController();
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    print(`${sig}: finishing the open event, sealing the open segment…`);
    ac.abort();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  let code: number = EXIT.ok;
  try {
    const r = await runMotion({
      baseUrl: handle.url, token: p.options.authToken, logPath: join(p.options.dataDir, 'motion-events.jsonl'),
      prerollMs: 2000, postrollMs: 2000, label: 'motion', signal: ac.signal, print,
    });
    print(`motion pipeline stopped: ${r.events} events, ${r.clips} clips, ${r.clipErrors} failed`);
  } catch (e) {
    process.stderr.write(`segrec demo: ${(e as Error).message}\n`);
    code = EXIT.failed;
  } finally {
    await handle.close();
    print('producer stopped');
  }
  return code;
}
