// GET /metrics: every camera's state in Prometheus text format, each series labelled with `camera` —
// ingest state, fragments, bytes, segments, gaps, restarts, clock drift, clip jobs by status, clip
// latency histogram, the object store's backlog — and the HTTP answers by status code, the store's state
// and the process's memory (resident, V8's heap spaces, external).
import { getHeapSpaceStatistics } from 'node:v8';
import type { Producer } from '../producer.js';
import type { FastifyInstance } from 'fastify';
import { route } from './server.js';
import { mergeLabelled, renderMetrics, type Metric } from '../metrics.js';

const STATES = ['starting', 'running', 'degraded', 'stalled', 'restarting', 'failed', 'stopped'] as const;

/** One camera's series (unlabelled; the route adds `camera`). */
export function cameraMetrics(p: Producer): Metric[] {
  const stats = p.index.stats();
  const state = p.ingestState();
  const w = p.writer.counters;
  const jobs = p.clipEngine?.jobCounts() ?? {};
  const age = p.ingest.lastFragmentAtMs === null ? NaN : (Date.now() - p.ingest.lastFragmentAtMs) / 1000;
  const metrics: Metric[] = [
    { name: 'segrec_ingest_state', help: 'Ingest state (1 for the current one).', type: 'gauge',
      samples: STATES.map((s) => ({ labels: { state: s }, value: state === s ? 1 : 0 })) },
    { name: 'segrec_ingest_restarts_total', help: 'ffmpeg restarts since the producer started.', type: 'counter', samples: [{ value: p.ingest.restarts }] },
    { name: 'segrec_ingest_fragments_total', help: 'Fragments written to segment files.', type: 'counter', samples: [{ value: w.fragmentsWritten }] },
    { name: 'segrec_ingest_fragments_dropped_total', help: 'Fragments dropped (non-monotonic, no video, unwritable).', type: 'counter', samples: [{ value: w.fragmentsDropped }] },
    { name: 'segrec_ingest_bytes_total', help: 'Bytes of fragments written.', type: 'counter', samples: [{ value: w.bytesWritten }] },
    { name: 'segrec_ingest_last_fragment_age_seconds', help: 'Seconds since the last fragment arrived.', type: 'gauge', samples: [{ value: age }] },
    { name: 'segrec_clock_drift_ms', help: 'Source clock drift from the wall clock in the current run.', type: 'gauge', samples: [{ value: p.clock.driftMs() }] },
    { name: 'segrec_segments', help: 'Segments in the index.', type: 'gauge', samples: [{ value: stats.count }] },
    { name: 'segrec_segments_bytes', help: 'Bytes of segments in the index.', type: 'gauge', samples: [{ value: stats.bytes }] },
    { name: 'segrec_gaps_total', help: 'Recorded gaps in the timeline.', type: 'counter', samples: [{ value: p.index.gapCount() }] },
    { name: 'segrec_retention_removed_segments_total', help: 'Segments removed by retention.', type: 'counter', samples: [{ value: p.retention.removedSegments }] },
    { name: 'segrec_retention_removed_bytes_total', help: 'Bytes removed by retention.', type: 'counter', samples: [{ value: p.retention.removedBytes }] },
    { name: 'segrec_clip_jobs', help: 'Clip jobs by status (persisted).', type: 'gauge',
      samples: ['queued', 'running', 'done', 'error'].map((s) => ({ labels: { status: s }, value: jobs[s] ?? 0 })) },
  ];
  const store = p.storeStatus?.();
  if (store) {
    metrics.push(
      { name: 'segrec_store_backlog_segments', help: 'Sealed segments not yet uploaded to the object store.', type: 'gauge', samples: [{ value: store.backlog_segments }] },
      { name: 'segrec_store_backlog_bytes', help: 'Bytes of sealed segments not yet uploaded.', type: 'gauge', samples: [{ value: store.backlog_bytes }] },
      { name: 'segrec_store_queued_deletes', help: 'Objects retention removed, still to delete from the store.', type: 'gauge', samples: [{ value: store.queued_deletes }] },
    );
  }
  if (p.clipEngine) {
    metrics.push({ name: 'segrec_clip_latency_seconds', help: 'Time from POST /clip to the published file.', type: 'histogram', histograms: [{ histogram: p.clipEngine.latency }] });
  }
  return metrics;
}

/** A cluster node's counters (cluster/cluster-node.ts), when it is one. */
export interface ClusterCounters {
  cameras: number;
  acquired: number;
  released: number;
  fenced: number;
  imported: number;
  adoptedJobs: number;
  queries: { leases: number; follower: number; jobs: number };
}

export interface MetricsSource {
  readonly cameras: ReadonlyMap<string, Producer>;
  readonly httpStatusCounts: ReadonlyMap<number, number>;
  clusterCounters(): ClusterCounters | null;
}

function clusterMetrics(c: ClusterCounters): Metric[] {
  return [
    { name: 'segrec_cluster_cameras', help: 'Cameras this node holds the lease of (records).', type: 'gauge', samples: [{ value: c.cameras }] },
    { name: 'segrec_cluster_leases_total', help: 'Camera leases this node took, gave up, or stopped recording for (fenced).', type: 'counter',
      samples: [{ labels: { event: 'acquired' }, value: c.acquired }, { labels: { event: 'released' }, value: c.released }, { labels: { event: 'fenced' }, value: c.fenced }] },
    { name: 'segrec_cluster_imported_segments_total', help: "Other nodes' segments imported from the catalog.", type: 'counter', samples: [{ value: c.imported }] },
    { name: 'segrec_cluster_adopted_clip_jobs_total', help: 'Clip jobs this node took over from nodes that went away.', type: 'counter', samples: [{ value: c.adoptedJobs }] },
    { name: 'segrec_cluster_catalog_queries_total', help: 'Queries sent to the catalog by the leases, the follower and the clip jobs.', type: 'counter',
      samples: (['leases', 'follower', 'jobs'] as const).map((part) => ({ labels: { part }, value: c.queries[part] })) },
  ];
}

/** The process's memory as Prometheus' Node clients name it: resident set, V8's heap spaces, external memory. */
function processMemoryMetrics(): Metric[] {
  const mem = process.memoryUsage();
  const spaces = getHeapSpaceStatistics();
  return [
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: [{ value: mem.rss }] },
    { name: 'nodejs_heap_space_size_total_bytes', help: "Size of each of V8's heap spaces (new space: the young generation), bytes.", type: 'gauge',
      samples: spaces.map((s) => ({ labels: { space: s.space_name.replace(/_space$/, '') }, value: s.space_size })) },
    { name: 'nodejs_heap_space_size_used_bytes', help: "Bytes of each of V8's heap spaces in use.", type: 'gauge',
      samples: spaces.map((s) => ({ labels: { space: s.space_name.replace(/_space$/, '') }, value: s.space_used_size })) },
    { name: 'nodejs_external_memory_bytes', help: 'Memory of objects outside the V8 heap (Buffers, WebAssembly memories), bytes.', type: 'gauge', samples: [{ value: mem.external }] },
  ];
}

export function addMetricsRoute(app: FastifyInstance, src: MetricsSource): void {
  route(app, { method: 'GET', url: '/metrics', schema: { summary: 'Prometheus metrics, every camera series labelled with camera.' }, handler: (c) => {
    const metrics = mergeLabelled([...src.cameras].map(([name, p]) => ({ labels: { camera: name }, metrics: cameraMetrics(p) })));
    const store = [...src.cameras.values()][0]?.storeStatus?.();
    if (store) {
      metrics.push(
        { name: 'segrec_store_up', help: '1 while the object store answers, 0 while uploads fail (degraded).', type: 'gauge', samples: [{ value: store.status === 'ok' ? 1 : 0 }] },
        { name: 'segrec_store_uploaded_segments_total', help: 'Segments uploaded by this process.', type: 'counter', samples: [{ value: store.uploaded_segments }] },
        { name: 'segrec_store_uploaded_bytes_total', help: 'Bytes uploaded by this process.', type: 'counter', samples: [{ value: store.uploaded_bytes }] },
        { name: 'segrec_store_evicted_segments_total', help: 'Local copies of uploaded segments evicted by this process.', type: 'counter', samples: [{ value: store.evicted_segments }] },
      );
    }
    const cluster = src.clusterCounters();
    if (cluster) metrics.push(...clusterMetrics(cluster));
    metrics.push({ name: 'segrec_http_requests_total', help: 'HTTP requests answered, by status code.', type: 'counter',
      samples: [...src.httpStatusCounts].sort(([a], [b]) => a - b).map(([code, n]) => ({ labels: { code: String(code) }, value: n })) });
    metrics.push(...processMemoryMetrics());
    const body = renderMetrics(metrics);
    const res = c.raw();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  } });
}
