// Attaches the clip engine to a producer (filled in by the clip issue).
import type { Producer } from '../producer.js';

export function attachClipEngine(_p: Producer): void {
  // no clip engine yet
}
