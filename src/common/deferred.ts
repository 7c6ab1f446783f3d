// One helper: a promise settled from outside (the functions that resolve or reject it kept beside it).

export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/** A promise and the functions that settle it; a rejection nobody awaits is not reported as unhandled. */
export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
