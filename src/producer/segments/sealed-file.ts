// Whether a sealed segment's file is still as it was sealed: its size, and its mtime where the row has
// one (rows from before it was recorded are trusted by size). A sealed file never changes; one that did
// is verified fragment by fragment (recovery.ts verifySealed). The one predicate of recovery, the
// background check, clip and recording reads, and the uploader.

/** Why the file is not as its sealed row says (missing, resized, written to), or null when it is. */
export function sealedFileChange(row: { bytes: number; mtime_ms: number | null }, st: { size: number; mtimeMs: number } | undefined): string | null {
  if (st === undefined) return 'the file is missing';
  if (st.size !== row.bytes) return `${st.size} bytes, the index says ${row.bytes}`;
  if (row.mtime_ms !== null && st.mtimeMs !== row.mtime_ms) return 'written to since';
  return null;
}
