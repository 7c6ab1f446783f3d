// A route of one camera (health, segments, live, events, clips): written once, served at its bare path
// (the default camera, as the seed's contract has it) and under /cameras/{camera}/ by the App.
import type { Producer } from '../producer.js';
import type { Ctx, RouteDef } from './server.js';
import { ErrorBody } from '../../protocol/schemas.js';

export interface CameraRoute extends Omit<RouteDef, 'handler'> {
  handler: (c: Ctx, camera: Producer) => unknown;
}

/** Documented error answers of a route (the ErrorBody schema). */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}
