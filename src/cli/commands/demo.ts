// `segrec demo` (what `npm start` runs): two built-in test cameras, `front` and `back`, recorded by one
// producer, each with its own motion pipeline (src/cli/commands/run.ts does the same for real cameras).
// Each test camera shows an object moving for 4 s every 20 s, `back` half a period after `front`, so
// within about half a minute both have clips of real motion events in DATA/clips/ (with their sidecars),
// and the terminal tells what happens, one line each, prefixed with the camera's name: segments
// sealed, motion events, clips with duration and path.
import { OptionsError, parseProducerArgs, type ProducerOptionsInput } from '../../producer/options.js';
import { startApp, type ProducerHandle } from '../../producer/app.js';
import { appConfigFromFlags, type AppConfig } from '../../producer/config/app-config.js';
import { DEFAULT_TESTSRC } from '../../producer/ingest/testsrc.js';
import { EXIT } from '../client.js';
import { dur, size, spanNs } from '../format.js';
import { startFailure } from '../producer-cmd.js';
import { startMotion, terminalPrinter } from './run.js';

/** The demo's cameras and when, in each 20 s period, their object moves (s). */
export const DEMO_CAMERAS: ReadonlyArray<{ name: string; motionOffsetS: number }> = [
  { name: 'front', motionOffsetS: 4 },
  { name: 'back', motionOffsetS: 14 },
];

/** The demo's configuration: the producer's flags (data dir, port, test camera size…) for both cameras. */
export function demoConfig(input: ProducerOptionsInput): AppConfig {
  if (input.source !== undefined && input.source !== 'testsrc') {
    throw new OptionsError('the demo records its two test cameras; for real cameras use segrec run --camera NAME=URL (or --config)');
  }
  const rest: ProducerOptionsInput = { ...input };
  delete rest.source;
  const config = appConfigFromFlags(DEMO_CAMERAS.map((c) => `${c.name}=testsrc`), { logLevel: 'warn', ...rest });
  return {
    ...config,
    cameras: config.cameras.map((c) => {
      const phase = DEMO_CAMERAS.find((d) => d.name === c.name)!;
      return {
        ...c,
        options: { ...c.options, testsrc: { ...c.options.testsrc, motionPeriodS: DEFAULT_TESTSRC.motionPeriodS, motionDurationS: DEFAULT_TESTSRC.motionDurationS, motionOffsetS: phase.motionOffsetS } },
        motion: { enabled: true, threshold: null, minAreaPct: null, preRollMs: 2000, postRollMs: 2000 },
      };
    }),
  };
}

export default async function demoCommand(argv: string[]): Promise<number> {
  let config: AppConfig;
  try {
    config = demoConfig(parseProducerArgs(argv));
  } catch (e) {
    if (e instanceof Error) {
      process.stderr.write(`segrec demo: ${e.message} (demo takes the producer's flags; see segrec producer --help)\n`);
      return EXIT.usage;
    }
    throw e;
  }
  let handle: ProducerHandle;
  try {
    handle = await startApp(config);
  } catch (e) {
    process.stderr.write(`segrec demo: ${startFailure(e)}\n`);
    return e instanceof OptionsError ? EXIT.usage : EXIT.failed;
  }
  const app = handle.app;
  const print = terminalPrinter(() => [...app.cameras.keys()]);
  print(null, `recording ${[...app.cameras.keys()].join(' and ')} (test cameras) into ${app.options.dataDir} — web page and API at ${handle.url}`);
  print(null, `clips of motion events will appear in ${app.options.clipRoots[0]} (Ctrl-C to stop)`);
  for (const [name, p] of app.cameras) {
    p.events.on('segment-sealed', (s) => print(name, `segment sealed ${s.path}: ${dur(spanNs(s.start_pts_ns, s.stop_pts_ns) / 1e6)}, ${s.frames} frames, ${size(s.bytes)}`));
    p.events.on('gap', (g) => print(name, `gap in recording: ${dur(spanNs(g.startNs, g.stopNs) / 1e6)} (${g.reason})`));
  }
  const motion = await startMotion(handle, config, { print });
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      print(null, `${sig}: finishing open events, sealing the open segments…`);
      motion.stop()
        .then(() => handle.close())
        .then(() => {
          const t = config.cameras.map((c) => [c.name, motion.totals.get(c.name) ?? { events: 0, clips: 0, clipErrors: 0 }] as const)
            .map(([n, x]) => `${n}: ${x.events} events, ${x.clips} clips, ${x.clipErrors} failed`);
          print(null, `stopped — ${t.join('; ')}`);
          resolve(EXIT.ok);
        }, (e: Error) => {
          process.stderr.write(`segrec demo: error while stopping: ${e.message}\n`);
          resolve(EXIT.failed);
        });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
