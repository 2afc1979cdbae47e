/**
 * sha256 of files and outputs, fed chunk by chunk as they are read or written: on the calling thread,
 * or on a worker thread from copies of the chunks (no second read).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Worker } from "node:worker_threads";

/** sha256 and size of a file, streamed. */
export async function fileDigest(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), bytes };
}

/** A sha256 fed chunk by chunk, here or on the hashing thread. */
export interface Digest {
  update(chunk: Buffer): void;
  /** A promise while too many bytes wait to be hashed (await it before reading more). */
  backlog(): Promise<void> | undefined;
  hex(): Promise<string>;
}

export function localDigest(): Digest {
  const h = createHash("sha256");
  return { update: (c) => void h.update(c), backlog: () => undefined, hex: async () => h.digest("hex") };
}

/** Inputs at least this large are hashed on a second thread (starting one costs ~30 ms). */
export const HASH_THREAD_MIN_BYTES = 64 << 20;
/** The hashing thread gets the bytes in a fixed pool of buffers (32 x 1 MB: ~100 ms of reading at full speed, so a briefly descheduled thread does not stall the reader) that go back and forth. */
const HASH_SLOT = 1 << 20;
const HASH_SLOTS = 32;
/** Reading (or writing) waits until this many buffers are free, so at most the pool is in flight. */
const HASH_FREE_MIN = 8;

const HASH_WORKER = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  let h = hashes.get(m.id);
  if (!h) hashes.set(m.id, (h = createHash("sha256")));
  if (m.data) {
    h.update(new Uint8Array(m.data, 0, m.len));
    parentPort.postMessage({ back: m.data }, [m.data]);
  } else {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest("hex") });
  }
});
`;

/**
 * sha256 of the input files (and the output) on a worker thread, from copies of the chunks the main
 * thread already read (no second read). The copies go in a fixed pool of buffers moved (not copied)
 * to the worker and back, so memory stays bounded; reading waits while the pool is in use.
 */
export class HashThread {
  private readonly worker = new Worker(HASH_WORKER, { eval: true });
  private next = 0;
  private readonly free: ArrayBuffer[] = [];
  private made = 0;
  private waiting: Array<() => void> = [];
  private readonly results = new Map<number, (hex: string) => void>();
  private failed: Error | undefined;
  constructor() {
    this.worker.unref();
    this.worker.on("message", (m: { id?: number; back?: ArrayBuffer; hex?: string }) => {
      if (m.back) {
        if (m.back.byteLength === HASH_SLOT) this.free.push(m.back);
        if (this.available() >= HASH_FREE_MIN) for (const w of this.waiting.splice(0)) w();
      } else this.results.get(m.id!)?.(m.hex!);
    });
    this.worker.on("error", (e) => {
      this.failed = e;
      for (const w of this.waiting.splice(0)) w();
    });
  }
  private available(): number {
    return this.free.length + HASH_SLOTS - this.made;
  }
  private take(n: number): ArrayBuffer {
    const b = this.free.pop();
    if (b) return b;
    if (this.made < HASH_SLOTS) {
      this.made++;
      return new ArrayBuffer(HASH_SLOT);
    }
    return new ArrayBuffer(n); // the pool is in use (only if a caller did not wait): a one-off buffer
  }
  digest(): Digest {
    const id = this.next++;
    return {
      update: (c) => {
        for (let off = 0; off < c.length; off += HASH_SLOT) {
          const piece = c.subarray(off, Math.min(c.length, off + HASH_SLOT));
          const b = this.take(piece.length);
          new Uint8Array(b, 0, piece.length).set(piece);
          this.worker.postMessage({ id, data: b, len: piece.length }, [b]);
        }
      },
      backlog: () => {
        if (this.failed) throw this.failed;
        if (this.available() >= HASH_FREE_MIN) return undefined;
        return this.held(new Promise<void>((resolve) => this.waiting.push(resolve)));
      },
      hex: () => {
        if (this.failed) return Promise.reject(this.failed);
        return this.held(
          new Promise<string>((resolve, reject) => {
            this.results.set(id, resolve);
            this.worker.once("error", reject);
            this.worker.postMessage({ id });
          }),
        );
      },
    };
  }
  /** The worker is unref'd (a forgotten one cannot keep the process alive) except while awaited. */
  private refs = 0;
  private held<T>(p: Promise<T>): Promise<T> {
    if (this.refs++ === 0) this.worker.ref();
    return p.finally(() => {
      if (--this.refs === 0) this.worker.unref();
    });
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
}
