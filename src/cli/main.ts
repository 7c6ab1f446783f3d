#!/usr/bin/env node
// The `segrec` command: dispatches to subcommands.
import { producerCommand, PRODUCER_HELP } from './producer-cmd.js';

const HELP = `segrec — record a video source into rolling MP4 segments and cut frame-accurate clips

commands:
  producer     run the recorder (ffmpeg ingest, segments, clip jobs, HTTP API)

${PRODUCER_HELP}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'producer':
      return producerCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP + '\n');
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`segrec: unknown command "${cmd}"\n\n${HELP}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
  process.stderr.write(`segrec: ${e.message}\n`);
  process.exitCode = 1;
});
