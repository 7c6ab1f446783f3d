// Prometheus text exposition for GET /metrics: a cumulative histogram type, and the rendering of the
// producer's gauges and counters (pure: the route gathers the numbers, this formats them).
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
}

export type Labels = Record<string, string>;

export interface Metric {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples?: Array<{ labels?: Labels; value: number }>;
  histogram?: Histogram;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(l: Labels | undefined): string {
  if (!l || Object.keys(l).length === 0) return '';
  return `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderMetrics(metrics: Metric[]): string {
  const out: string[] = [];
  for (const m of metrics) {
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    if (m.histogram) {
      const h = m.histogram;
      h.buckets.forEach((b, i) => out.push(`${m.name}_bucket{le="${num(b)}"} ${h.counts[i]}`));
      out.push(`${m.name}_bucket{le="+Inf"} ${h.count}`, `${m.name}_sum ${num(h.sum)}`, `${m.name}_count ${h.count}`);
    }
    for (const s of m.samples ?? []) out.push(`${m.name}${labelText(s.labels)} ${num(s.value)}`);
  }
  return out.join('\n') + '\n';
}

/** Clip latency buckets, in seconds (accepted → file published). */
export const CLIP_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
