// The one lane of background work in a process (the App owns it; a Producer started alone makes its
// own). Every camera's background check (background-check.ts) joins it and runs its work through it as
// synchronous batches: one batch of one member at a time, the members taking turns round robin (each
// waiting member gets a turn before any gets a second), and after each batch the lane rests as long as
// the batch took (at least `pauseMs`), so all of it together is at most about half of the process's
// time however many cameras there are. It owns the turn order, the rests, and a short record of the
// recent batches (what tests and diagnostics observe); the work itself belongs to the members. A member
// that leaves (its camera stopped) loses its waiting turn (rejected with LaneLeft); the others keep theirs.
import { performance } from 'node:perf_hooks';

/** The rejection of a turn whose member left the lane (or left while waiting for it). */
export class LaneLeft extends Error {
  override name = 'LaneLeft';
}

/** One batch the lane ran. */
export interface LaneBatch {
  member: string;
  /** performance.now() at its start, and how long it took (ms). */
  startMs: number;
  ms: number;
  /** The rest the lane took after it, before any next batch (ms). */
  restMs: number;
}

/** A member of the lane: its turns, one at a time. */
export interface LaneMember {
  readonly name: string;
  /**
   * Runs `work` (synchronous: the whole batch) at this member's next turn and resolves with its result
   * (rejects with what it threw); rejects with LaneLeft once the member left.
   */
  turn<T>(work: () => T): Promise<T>;
  /** Leaves the lane: a waiting turn is rejected with LaneLeft; the others' turns are not disturbed. */
  leave(): void;
}

interface Waiting {
  work: () => unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Seat {
  name: string;
  waiting: Waiting | null;
  left: boolean;
}

/** How many recent batches the lane remembers. */
const HISTORY = 256;

export class BackgroundLane {
  /** The shortest rest after a batch (ms). */
  readonly pauseMs: number;
  /** The member whose batch is running now; null between batches. */
  running: string | null = null;
  /** The most batches that were ever running at the same time. */
  maxRunning = 0;
  /** Batches run, and the time they took together (ms). */
  batches = 0;
  busyMs = 0;
  /** The latest batches, oldest first (at most HISTORY). */
  readonly recent: LaneBatch[] = [];
  /** Called after each batch (tests, diagnostics). */
  onBatch: ((b: LaneBatch) => void) | null = null;
  private readonly seats: Seat[] = [];
  /** Where the search for the next waiting member starts: the seat after the last one served. */
  private cursor = 0;
  /** A next turn is already scheduled (a rest, or a turn after an idle spell). */
  private scheduled = false;
  private inFlight = 0;

  constructor(o: { pauseMs?: number } = {}) {
    this.pauseMs = o.pauseMs ?? 5;
  }

  /** The members, in turn order. */
  get members(): string[] {
    return this.seats.map((s) => s.name);
  }

  join(name: string): LaneMember {
    const seat: Seat = { name, waiting: null, left: false };
    this.seats.push(seat);
    return {
      name,
      turn: <T>(work: () => T): Promise<T> => {
        if (seat.left) return Promise.reject(new LaneLeft(`${name} left the background lane`));
        if (seat.waiting) return Promise.reject(new Error(`${name} already waits for a turn of the background lane`));
        return new Promise<T>((resolve, reject) => {
          seat.waiting = { work, resolve: resolve as (v: unknown) => void, reject };
          this.wake();
        });
      },
      leave: () => {
        if (seat.left) return;
        seat.left = true;
        const i = this.seats.indexOf(seat);
        this.seats.splice(i, 1);
        // The member after it keeps its place in the order.
        if (i < this.cursor) this.cursor--;
        if (this.cursor >= this.seats.length) this.cursor = 0;
        const w = seat.waiting;
        seat.waiting = null;
        w?.reject(new LaneLeft(`${name} left the background lane`));
      },
    };
  }

  /** A turn was asked for: after an idle spell the next batch runs soon (never inside the asker's call). */
  private wake(): void {
    if (this.scheduled || this.inFlight > 0) return;
    this.scheduled = true;
    setImmediate(() => this.next());
  }

  /** Runs the batch of the next waiting member after the last one served, if any waits. */
  private next(): void {
    this.scheduled = false;
    const n = this.seats.length;
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const seat = this.seats[i];
      if (!seat.waiting) continue;
      this.cursor = (i + 1) % n;
      const w = seat.waiting;
      seat.waiting = null;
      this.run(seat.name, w);
      return;
    }
  }

  private run(member: string, w: Waiting): void {
    this.running = member;
    this.inFlight++;
    this.maxRunning = Math.max(this.maxRunning, this.inFlight);
    const t0 = performance.now();
    let ok = true;
    let value: unknown;
    try {
      value = w.work();
      if (value instanceof Promise) throw new Error('background lane work must be synchronous (the batch is what runs in a turn)');
    } catch (e) {
      ok = false;
      value = e;
    } finally {
      this.inFlight--;
      this.running = null;
    }
    const ms = performance.now() - t0;
    const b: LaneBatch = { member, startMs: t0, ms, restMs: Math.max(this.pauseMs, ms) };
    this.batches++;
    this.busyMs += ms;
    this.recent.push(b);
    if (this.recent.length > HISTORY) this.recent.shift();
    // The rest: as long as the batch took, whoever's turn is next. Timers count from the event loop's
    // cached time, which is as old as the batch (or older): a timer alone could end the rest at once, so
    // the end is a deadline on the real clock, and the timer is armed again until it has passed.
    this.scheduled = true;
    const until = performance.now() + b.restMs;
    const rest = () => {
      const left = until - performance.now();
      if (left > 0) setTimeout(rest, Math.ceil(left));
      else this.next();
    };
    setTimeout(rest, Math.ceil(b.restMs));
    try {
      this.onBatch?.(b);
    } finally {
      if (ok) w.resolve(value);
      else w.reject(value);
    }
  }
}
