// Attaches the clip service to a camera before it starts: its ports (engine.ts ClipPorts) are taken
// from the camera here, so the clip side depends on nothing else of the Producer.
import type { Producer } from '../producer.js';
import { ClipEngine } from './engine.js';

export function attachClipEngine(p: Producer): ClipEngine {
  const o = p.options;
  const engine = new ClipEngine({
    name: p.name, log: p.log, db: p.index.db, catalog: p.index, pins: p.pins, anchor: () => p.currentAnchor(),
    place: p.place, clipRoots: o.clipRoots, clipStoreRoots: o.clipStoreRoots, clipObjects: p.clipObjects, clipMaxAgeMs: o.clipMaxAgeMs, workers: o.clipWorkers,
    ingestRunning: () => p.ingest.state === 'running', sourceForDisplay: () => p.sourceForDisplay,
    onFragment: (fn) => p.events.on('fragment', fn),
    clipFinished: (clip) => p.events.emit('clip-finished', clip),
  });
  p.clipEngine = engine;
  return engine;
}
