// The HTTP client of bench/clip.ts, run as its own process (as a user's client is: its request building
// and JSON parsing do not run on the producer's event loop). Per 'clip' message from its parent it makes
// one clip — POST /clip, then GET /clip/{id}?wait_ms= until the job ends — and answers with the time it
// took as it saw it. Started with the producer's URL and the request body as arguments.
import { HttpJson } from './lib.js';

interface ClipAnswer { clip: { clip_id: string; status: string; path: string | null; bytes: number | null }; message: string | null }
export interface ClientResult { ms: number; clip: ClipAnswer['clip'] }

const [url, body] = process.argv.slice(2);
const http = new HttpJson(url);
process.on('message', (msg: 'clip' | 'close') => {
  if (msg === 'close') { http.close(); process.disconnect(); return; }
  void (async () => {
    const t = performance.now();
    let clip = (await http.request<ClipAnswer>('POST', '/clip', body)).clip;
    while (clip.status !== 'done' && clip.status !== 'error') {
      clip = (await http.request<ClipAnswer>('GET', `/clip/${clip.clip_id}?wait_ms=30000`)).clip;
    }
    process.send!({ ms: performance.now() - t, clip } satisfies ClientResult);
  })();
});
process.send!('ready');
