// Camera names: the pattern every camera name must match (it becomes a URL path segment, a directory
// and a clip-id part), the name of the single camera of a one-source producer, and where a camera's
// data lives under the data directory.
import { join } from 'node:path';

/** A camera name: lower-case letters, digits, `_` and `-`, starting with a letter or digit, at most 64. */
export const CAMERA_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The camera a single `--source` records, and the one the seed's bare routes address by default. */
export const DEFAULT_CAMERA = 'default';

/** A camera's data directory: the data directory itself for `default` (a one-source producer's layout), else DATA/cameras/NAME. */
export function cameraDataDir(dataDir: string, name: string): string {
  return name === DEFAULT_CAMERA ? dataDir : join(dataDir, 'cameras', name);
}

/** The prefix of a camera's clip ids (`clip-` for `default`, `clip-NAME-` otherwise): ids are unique across cameras. */
export function clipIdPrefix(name: string): string {
  return name === DEFAULT_CAMERA ? 'clip-' : `clip-${name}-`;
}

/** A clip id of any camera: `clip-<16 digits>` or `clip-<camera>-<16 digits>`. */
export const CLIP_ID = /^clip-(?:([a-z0-9][a-z0-9_-]{0,63})-)?\d{16}$/;
