import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createGzip, type Gzip } from "node:zlib";
import { createHash, randomBytes, type Hash } from "node:crypto";

function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/** Writes `data` to `path` through a temp file in the same folder and a rename: old file or new, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * A streaming writer that only makes the file visible on `commit()`. Text is buffered into ~1 MB
 * writes, and backpressure is respected, so memory stays flat for any output size.
 * A path ending in `.gz` is gzip-compressed.
 */
export class AtomicWriter {
  readonly path: string;
  private readonly tmp: string;
  private readonly file: WriteStream;
  private readonly gzip: Gzip | undefined;
  private readonly sink: NodeJS.WritableStream;
  private pending: string[] = [];
  private pendingBytes = 0;
  private failed: Error | undefined;
  private done = false;
  private readonly hash: Hash = createHash("sha256");
  bytesWritten = 0;

  private constructor(path: string) {
    this.path = path;
    this.tmp = tempNameFor(path);
    this.file = createWriteStream(this.tmp);
    this.file.on("error", (e) => (this.failed ??= e));
    if (path.endsWith(".gz")) {
      // mtime 0 in the gzip header keeps compressed output byte-identical across runs.
      this.gzip = createGzip({ level: 6 });
      this.gzip.on("error", (e) => (this.failed ??= e));
      this.gzip.pipe(this.file);
      this.sink = this.gzip;
    } else {
      this.sink = this.file;
    }
  }

  static async create(path: string): Promise<AtomicWriter> {
    await mkdir(dirname(path), { recursive: true });
    return new AtomicWriter(path);
  }

  /**
   * Queues text. Returns a promise only when it flushed (await it: backpressure); most calls return
   * undefined, so a tight loop pays no await per line.
   */
  write(text: string): Promise<void> | undefined {
    if (this.failed) throw this.failed;
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= 1 << 20) return this.flush();
    return undefined;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    // Encode once; hash and write the same bytes.
    const chunk = Buffer.from(this.pending.join(""));
    this.pending = [];
    this.pendingBytes = 0;
    this.bytesWritten += chunk.length;
    this.hash.update(chunk);
    if (!this.sink.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => { cleanup(); resolve(); };
        const onError = (e: Error): void => { cleanup(); reject(e); };
        const cleanup = (): void => { this.sink.off("drain", onDrain); this.sink.off("error", onError); };
        this.sink.on("drain", onDrain);
        this.sink.on("error", onError);
      });
    }
    if (this.failed) throw this.failed;
  }

  /** Flushes, syncs and renames the temp file onto `path`. */
  async commit(): Promise<void> {
    if (this.done) throw new Error(`${this.path}: writer already closed`);
    await this.flush();
    this.done = true;
    await new Promise<void>((resolve, reject) => {
      this.file.once("error", reject);
      this.file.once("close", resolve);
      this.sink.end();
    });
    if (this.failed) {
      await unlink(this.tmp).catch(() => undefined);
      throw this.failed;
    }
    const fh = await open(this.tmp, "r+");
    await fh.sync().finally(() => fh.close());
    await rename(this.tmp, this.path);
  }

  /** sha256 (hex) of the uncompressed text written; call after commit(). */
  sha256(): string {
    return this.hash.copy().digest("hex");
  }

  /** Drops the temp file; `path` is left as it was. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending = [];
    await new Promise<void>((resolve) => {
      this.file.once("close", resolve);
      this.file.destroy();
      this.gzip?.destroy();
    });
    await unlink(this.tmp).catch(() => undefined);
  }
}
