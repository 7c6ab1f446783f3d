// `segrec producer`: runs the producer in the foreground until SIGINT/SIGTERM, which seal the open
// segment and exit cleanly.
import { OptionsError, parseProducerArgs, PRODUCER_FLAGS } from '../producer/options.js';
import { startProducer } from '../producer/producer.js';

export const PRODUCER_HELP = `segrec producer [flags]   (each flag also as env SEGREC_<FLAG>, e.g. SEGREC_DATA_DIR)
  --source testsrc|FILE|URL     what to record (default testsrc: a synthetic camera with motion)
  --data-dir DIR                segments, index and clips (default ./data)
  --host ADDR --port N          HTTP address (default 127.0.0.1:8765; non-loopback needs --auth-token)
  --segment-seconds N           rotate segments after N seconds (default 10)
  --retention-max-age 24h       --retention-max-bytes 20GB   --min-free-bytes 5GB
  --clip-root DIR               where clips may be written (repeatable; default DATA/clips)
  --auth-token TOKEN            bearer token required on every route but /health
  --ffmpeg PATH                 ffmpeg binary (default: ffmpeg on PATH)
  --audio auto|copy|aac|off     auto: copy AAC/Opus, transcode G.711/PCM/… alone to AAC (video stays copied)
  --stall-timeout 10s           restart ffmpeg after this long without media (default max(5s, 3 fragments))
  --transcode auto|always|never --loop true|false --clip-workers N --log-level debug|info|warn|error
  --testsrc-size 1280x720 --testsrc-fps 15
flags: ${PRODUCER_FLAGS.map((f) => '--' + f).join(' ')}`;

/** Why the producer could not start, with what to do about the common cases. */
export function startFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err.code === 'EADDRINUSE') return `${err.address}:${err.port} is already in use (another producer?): pass --port N, or stop the other one`;
  if (err.code === 'EACCES' && err.port !== undefined) return `not allowed to listen on port ${err.port}: pass --port N above 1023`;
  if (err.code === 'EADDRNOTAVAIL') return `${err.address} is not an address of this machine: check --host`;
  return err.message;
}

export async function producerCommand(argv: string[]): Promise<number> {
  let input;
  try {
    input = parseProducerArgs(argv);
  } catch (e) {
    if (e instanceof OptionsError || e instanceof Error) {
      process.stderr.write(`segrec producer: ${e.message}\n\n${PRODUCER_HELP}\n`);
      return 2;
    }
    throw e;
  }
  let handle;
  try {
    handle = await startProducer(input);
  } catch (e) {
    process.stderr.write(`segrec producer: ${startFailure(e)}\n`);
    return e instanceof OptionsError ? 2 : 1;
  }
  process.stderr.write(`producer running at ${handle.url} (Ctrl-C to stop)\n`);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${sig}: sealing the open segment and stopping…\n`);
      handle.close().then(() => resolve(0), (e: Error) => {
        process.stderr.write(`segrec producer: error while stopping: ${e.message}\n`);
        resolve(1);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
