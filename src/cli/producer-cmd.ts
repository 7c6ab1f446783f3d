// `segrec producer`: runs the producer in the foreground until SIGINT/SIGTERM, which seal the open
// segments and exit cleanly; SIGHUP re-reads --config. Cameras come from a YAML file (--config), from
// repeated --camera NAME=URL flags, or from --source (one camera named `default`).
import { OptionsError, parseProducerArgs, PRODUCER_FLAGS } from '../producer/options.js';
import { startApp, type ProducerHandle } from '../producer/app.js';
import { appConfigFromFlags, ConfigError, loadAppConfig, type AppConfig } from '../producer/config/app-config.js';

export const PRODUCER_HELP = `segrec producer [flags]   (each flag also as env SEGREC_<FLAG>, e.g. SEGREC_DATA_DIR)
  --config segrec.yml           cameras and settings from a YAML file (no other flags then); SIGHUP re-reads it
  --camera NAME=URL             one camera (repeatable; NAME: a-z 0-9 _ -); its routes are /cameras/NAME/…
  --source testsrc|FILE|URL     what to record (default testsrc: a synthetic camera with motion)
  --data-dir DIR                segments, index and clips (default ./data)
  --host ADDR --port N          HTTP address (default 127.0.0.1:8765; non-loopback needs --auth-token)
  --segment-seconds N           rotate segments after N seconds (default 10)
  --retention-max-age 24h       --retention-max-bytes 20GB   --min-free-bytes 5GB
  --clip-root DIR               where clips may be written (repeatable; default DATA/clips)
  --clip-max-age 30d            delete published clips older than this (default: keep them)
  --auth-token TOKEN            bearer token required on every route but /health
  --ffmpeg PATH                 ffmpeg binary (default: ffmpeg on PATH)
  --audio auto|copy|aac|off     auto: copy AAC/Opus, transcode G.711/PCM/… alone to AAC (video stays copied)
  --stall-timeout 10s           restart ffmpeg after this long without media (default max(5s, 3 fragments))
  --transcode auto|always|never --loop true|false --clip-workers N --log-level debug|info|warn|error
  --testsrc-size 1280x720 --testsrc-fps 15
  --store s3://BUCKET/PREFIX    upload sealed segments to S3-compatible storage (credentials: AWS_ACCESS_KEY_ID/
                                AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws — never a flag)
  --s3-endpoint URL --s3-region R --s3-path-style true   (Ceph RGW, MinIO: endpoint + path style)
  --local-keep 24h              keep local copies of uploaded segments this long (default 24h), then read from the store
  --catalog postgres://…        keep the catalog in PostgreSQL too (set it as SEGREC_CATALOG: the URL holds a password)
  --cluster true                several nodes as one recorder (needs --catalog and --store): each camera is recorded
                                by the node holding its lease; --node-id NAME (default: the host name),
                                --lease-timeout 10s (a dead node's cameras move after this),
                                --advertise-url http://IP:PORT (how other nodes reach this one; default: the listen address)
flags: ${PRODUCER_FLAGS.map((f) => '--' + f).join(' ')}`;

/** Why the producer could not start, with what to do about the common cases. */
export function startFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err.code === 'EADDRINUSE') return `${err.address}:${err.port} is already in use (another producer?): pass --port N, or stop the other one`;
  if (err.code === 'EACCES' && err.port !== undefined) return `not allowed to listen on port ${err.port}: pass --port N above 1023`;
  if (err.code === 'EADDRNOTAVAIL') return `${err.address} is not an address of this machine: check --host`;
  return err.message;
}

/** `--config F` and `--camera NAME=URL` taken out of argv (the rest are the producer's flags). */
export function takeCameraFlags(argv: string[]): { config: string | null; cameras: string[]; rest: string[] } {
  const out = { config: null as string | null, cameras: [] as string[], rest: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(config|camera)(?:=(.*))?$/s.exec(argv[i]);
    if (!m) { out.rest.push(argv[i]); continue; }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new OptionsError(`--${m[1]} needs a value`);
    if (m[1] === 'config') out.config = value;
    else out.cameras.push(value);
  }
  return out;
}

/** The configuration argv asks for (a file, --camera flags, or today's single --source). */
export function configFromArgv(argv: string[], env: NodeJS.ProcessEnv = process.env): AppConfig {
  const f = takeCameraFlags(argv);
  if (f.config !== null) {
    if (f.cameras.length > 0 || f.rest.length > 0) throw new OptionsError(`with --config, settings go in the file (also given: ${[...f.cameras.map(() => '--camera'), ...f.rest.filter((a) => a.startsWith('--'))].join(' ')})`);
    return loadAppConfig(f.config, parseProducerArgs([], env));
  }
  return appConfigFromFlags(f.cameras, parseProducerArgs(f.rest, env));
}

export async function producerCommand(argv: string[]): Promise<number> {
  let config: AppConfig;
  try {
    config = configFromArgv(argv);
  } catch (e) {
    if (e instanceof OptionsError || e instanceof ConfigError || e instanceof Error) {
      process.stderr.write(`segrec producer: ${e.message}\n\n${PRODUCER_HELP}\n`);
      return 2;
    }
    throw e;
  }
  let handle: ProducerHandle;
  try {
    handle = await startApp(config);
  } catch (e) {
    process.stderr.write(`segrec producer: ${startFailure(e)}\n`);
    return e instanceof OptionsError ? 2 : 1;
  }
  const file = config.file;
  if (file !== null) {
    const app = handle.app;
    app.reloadSource = () => loadAppConfig(file, parseProducerArgs([], process.env));
    process.on('SIGHUP', () => {
      let next: AppConfig;
      try {
        next = loadAppConfig(file, parseProducerArgs([], process.env));
      } catch (e) {
        process.stderr.write(`segrec producer: SIGHUP: ${(e as Error).message} (configuration unchanged)\n`);
        return;
      }
      app.reload(next).catch((e: Error) => process.stderr.write(`segrec producer: reload failed: ${e.message}\n`));
    });
  }
  const names = [...handle.app.cameras.keys()];
  process.stderr.write(`producer running at ${handle.url} with ${names.length} camera(s): ${names.join(', ')} (Ctrl-C to stop)\n`);
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
