// The built-in synthetic camera ("testsrc"): an ffmpeg lavfi graph with a still background, a
// wall-clock/frame-counter overlay and an object that moves across the picture for a few seconds
// in every period, so the motion pipeline has real events with a start and an end.
import { existsSync } from 'node:fs';

export interface TestsrcOptions {
  width: number;
  height: number;
  fps: number;
  /** Keyframe interval in seconds (one fMP4 fragment per GOP). */
  gopSeconds: number;
  /** The moving object appears once every `motionPeriodS` seconds ... */
  motionPeriodS: number;
  /** ... for `motionDurationS` seconds. Set motionPeriodS to 0 for no motion at all. */
  motionDurationS: number;
  /** Seconds into each period at which the object appears. */
  motionOffsetS: number;
}

export const DEFAULT_TESTSRC: TestsrcOptions = {
  width: 1280,
  height: 720,
  fps: 15,
  gopSeconds: 1,
  motionPeriodS: 20,
  motionDurationS: 4,
  motionOffsetS: 8,
};

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
];

/** Picks a font file for drawtext, or undefined when none is installed (the overlay is then left out). */
export function findOverlayFont(): string | undefined {
  return FONT_CANDIDATES.find((f) => existsSync(f));
}

/** The lavfi filter graph (one labelled output, `out0`) that draws the synthetic picture in real time. */
export function testsrcGraph(o: TestsrcOptions, font = findOverlayFont()): string {
  const { width: w, height: h, fps } = o;
  const boxW = Math.max(8, Math.round(w / 8) & ~1);
  const boxH = Math.max(8, Math.round(h / 5) & ~1);
  const parts: string[] = [];
  parts.push(`color=c=0x34495e:s=${w}x${h}:r=${fps},drawgrid=w=${Math.round(w / 8)}:h=${Math.round(h / 6)}:t=2:c=0x2c3e50[bg]`);
  let last = 'bg';
  if (o.motionPeriodS > 0 && o.motionDurationS > 0) {
    const P = o.motionPeriodS;
    const a = o.motionOffsetS;
    const d = o.motionDurationS;
    // x travels from the left edge to the right edge while the object is visible.
    const x = `(mod(t\\,${P})-${a})/${d}*(${w}-${boxW})`;
    const y = `${Math.round(h / 2 - boxH / 2)}+${Math.round(h / 6)}*sin(2*PI*(mod(t\\,${P})-${a})/${d})`;
    parts.push(`color=c=0xf39c12:s=${boxW}x${boxH}:r=${fps}[obj]`);
    parts.push(`[${last}][obj]overlay=x='${x}':y='${y}':enable='between(mod(t\\,${P})\\,${a}\\,${a + d})':shortest=1[mv]`);
    last = 'mv';
  }
  const fontSize = Math.max(10, Math.round(h / 30));
  const text = font
    ? `,drawtext=fontfile=${font}:text='%{localtime} #%{n}':x=10:y=10:fontsize=${fontSize}:fontcolor=white:box=1:boxcolor=black@0.6`
    : '';
  parts.push(`[${last}]format=yuv420p${text},realtime[out0]`);
  return parts.join(';');
}

/** ffmpeg input + encoder arguments for the synthetic camera (everything before the output options). */
export function testsrcArgs(o: TestsrcOptions): string[] {
  const gop = Math.max(1, Math.round(o.fps * o.gopSeconds));
  return [
    '-f', 'lavfi', '-i', testsrcGraph(o),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-crf', '30',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0',
    '-pix_fmt', 'yuv420p',
  ];
}
