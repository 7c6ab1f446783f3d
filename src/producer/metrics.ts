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
  histograms?: Array<{ labels?: Labels; histogram: Histogram }>;
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

/** Metrics of several sources (cameras) as one set: same-named metrics merged, each sample labelled. */
export function mergeLabelled(sets: Array<{ labels: Labels; metrics: Metric[] }>): Metric[] {
  const byName = new Map<string, Metric>();
  for (const { labels, metrics } of sets) {
    for (const m of metrics) {
      let into = byName.get(m.name);
      if (!into) byName.set(m.name, into = { name: m.name, help: m.help, type: m.type, samples: [], histograms: [] });
      into.samples!.push(...(m.samples ?? []).map((x) => ({ labels: { ...labels, ...x.labels }, value: x.value })));
      into.histograms!.push(...(m.histograms ?? []).map((x) => ({ labels: { ...labels, ...x.labels }, histogram: x.histogram })));
    }
  }
  return [...byName.values()];
}

export function renderMetrics(metrics: Metric[]): string {
  const out: string[] = [];
  for (const m of metrics) {
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const { labels, histogram: h } of m.histograms ?? []) {
      const le = (v: string) => labelText({ ...labels, le: v });
      h.buckets.forEach((b, i) => out.push(`${m.name}_bucket${le(num(b))} ${h.counts[i]}`));
      out.push(`${m.name}_bucket${le('+Inf')} ${h.count}`, `${m.name}_sum${labelText(labels)} ${num(h.sum)}`, `${m.name}_count${labelText(labels)} ${h.count}`);
    }
    for (const s of m.samples ?? []) out.push(`${m.name}${labelText(s.labels)} ${num(s.value)}`);
  }
  return out.join('\n') + '\n';
}

/** Clip latency buckets, in seconds (accepted → file published). */
export const CLIP_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
