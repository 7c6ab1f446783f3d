// Attaches the clip engine to a producer before it starts (kept apart so the recording half has no
// compile-time dependency on the clip half).
import type { Producer } from '../producer.js';
import { ClipEngine } from './engine.js';

export function attachClipEngine(p: Producer): ClipEngine {
  const engine = new ClipEngine(p);
  p.clipEngine = engine;
  return engine;
}
