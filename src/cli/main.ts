#!/usr/bin/env -S node --max-semi-space-size=4
// The `segrec` command: dispatches to subcommands, turns errors into a message and an exit code
// (0 ok, 1 failed, 2 usage, 3 producer unreachable), never a stack trace. The first line gives Node
// V8's young generation at most 4 MiB a semi-space (not 16): a producer's memory then hardly depends on
// its request mix (a page of 1,000 segments every few seconds grew it to 32 MiB, an idle one kept 1 MiB),
// at no cost measured in clip latency (bench/clip). deploy/Containerfile and `npm start` run it with the
// same flags (scripts/node-flags.ts; checked by test/deploy).
import { producerCommand, PRODUCER_HELP } from './producer-cmd.js';
import { clipCommand, CLIP_FLAGS } from './commands/clip.js';
import { clipsCommand, healthCommand, rotateCommand, segmentsCommand } from './commands/status.js';
import { helpFor, UsageError } from '../common/flags.js';
import { CliError, EXIT } from './client.js';

const HELP = `segrec — record a video source into rolling MP4 segments and cut frame-accurate clips

commands:
  producer     run the recorder (ffmpeg ingest, segments, clip jobs, HTTP API, web page)
  run          the producer plus a motion pipeline per camera (--config segrec.yml, or --camera NAME=URL)
  demo         two test cameras with motion, recorded and clipped (what \`npm start\` runs)
  motion       detect motion on a running producer's live stream and clip each event
  health       show a producer's state              rotate     seal the open segment now
  segments     recorded spans and gaps              clips      recent clips
  clip         make a clip: --last 10s | --from -30s --to -5s | --start-pts N --stop-pts N

common flags: --producer URL (or SEGREC_PRODUCER_BASE_URL), --camera NAME, --token T (or SEGREC_AUTH_TOKEN), --json

clip flags:
${helpFor(CLIP_FLAGS)}

${PRODUCER_HELP}`;

type Command = (argv: string[]) => Promise<number>;

async function lazy(load: () => Promise<{ default: Command }>, argv: string[]): Promise<number> {
  return (await load()).default(argv);
}

const COMMANDS: Record<string, Command> = {
  producer: producerCommand,
  health: healthCommand,
  rotate: rotateCommand,
  segments: segmentsCommand,
  clips: clipsCommand,
  clip: clipCommand,
  motion: (argv) => lazy(() => import('./commands/motion.js'), argv),
  demo: (argv) => lazy(() => import('./commands/demo.js'), argv),
  run: (argv) => lazy(() => import('./commands/run.js'), argv),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(HELP + '\n');
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`segrec: unknown command "${cmd}" (try: segrec help)\n`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return EXIT.ok;
  }
  try {
    return await run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`segrec ${cmd}: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      process.stderr.write(`segrec ${cmd}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`segrec ${cmd}: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
