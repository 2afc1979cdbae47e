/**
 * The Jupyter wire format: connection files, message framing, HMAC signatures.
 * Knows nothing of sockets or of TypeScript; every incoming message is parsed and validated here once.
 */
import { Buffer } from "node:buffer";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

export const PROTOCOL_VERSION = "5.3";
export const DELIMITER = "<IDS|MSG>";
const DELIMITER_BUF = Buffer.from(DELIMITER);

export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

const PORT_FIELDS = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"] as const;

/** Reads and validates a connection file; errors name the file and the field. */
export function readConnectionFile(path: string): ConnectionInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: cannot read connection file: ${(err as Error).message}`);
  }
  return parseConnectionInfo(raw, path);
}

export function parseConnectionInfo(raw: unknown, source = "connection info"): ConnectionInfo {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${source}: expected a JSON object`);
  }
  const o = raw as Record<string, unknown>;
  const transport = o.transport ?? "tcp";
  if (transport !== "tcp" && transport !== "ipc") {
    throw new Error(`${source}: field "transport" must be "tcp" or "ipc", got ${JSON.stringify(transport)}`);
  }
  if (typeof o.ip !== "string" || o.ip === "") throw new Error(`${source}: field "ip" must be a non-empty string`);
  const ports: Record<string, number> = {};
  for (const f of PORT_FIELDS) {
    const v = o[f];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
      throw new Error(`${source}: field "${f}" must be an integer port number, got ${JSON.stringify(v)}`);
    }
    ports[f] = v;
  }
  const key = o.key ?? "";
  if (typeof key !== "string") throw new Error(`${source}: field "key" must be a string`);
  const scheme = o.signature_scheme ?? "hmac-sha256";
  if (typeof scheme !== "string" || !/^hmac-(sha256|sha384|sha512|sha1|md5)$/.test(scheme)) {
    throw new Error(`${source}: field "signature_scheme" must be hmac-sha256 (or another hmac-*), got ${JSON.stringify(scheme)}`);
  }
  return {
    transport,
    ip: o.ip,
    shell_port: ports.shell_port!,
    iopub_port: ports.iopub_port!,
    stdin_port: ports.stdin_port!,
    control_port: ports.control_port!,
    hb_port: ports.hb_port!,
    key,
    signature_scheme: scheme,
    kernel_name: typeof o.kernel_name === "string" ? o.kernel_name : undefined,
  };
}

/** The address to bind for one channel, exactly as the connection file says. */
export function endpoint(info: ConnectionInfo, port: number): string {
  return info.transport === "tcp" ? `tcp://${info.ip}:${port}` : `ipc://${info.ip}-${port}`;
}

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export type JsonObject = Record<string, unknown>;

export interface Message<C extends JsonObject = JsonObject> {
  /** ZeroMQ routing identities (ROUTER sockets); empty for messages the kernel originates on IOPub. */
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: JsonObject;
  content: C;
  buffers: Buffer[];
}

/** Signs and verifies with the connection key. An empty key disables signing, as the spec says. */
export class Signer {
  private readonly algorithm: string;
  constructor(private readonly key: string, scheme = "hmac-sha256") {
    this.algorithm = scheme.replace(/^hmac-/, "");
  }

  get enabled(): boolean {
    return this.key.length > 0;
  }

  sign(parts: readonly Buffer[]): string {
    if (!this.enabled) return "";
    const h = createHmac(this.algorithm, this.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }

  /** Constant-time comparison of the hex signature with the expected one. */
  verify(signature: Buffer, parts: readonly Buffer[]): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(parts), "latin1");
    // Compare against a same-length buffer so the timing does not reveal the length either.
    const given = Buffer.alloc(expected.length);
    signature.copy(given, 0, 0, Math.min(signature.length, expected.length));
    const equal = timingSafeEqual(given, expected);
    return equal && signature.length === expected.length;
  }
}

export interface DecodeLimits {
  /** Largest JSON frame accepted, in bytes. */
  maxJsonBytes: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxJsonBytes: 64 * 1024 * 1024 };

export type Decoded = { ok: true; message: Message } | { ok: false; reason: string };

const isObject = (x: unknown): x is JsonObject => typeof x === "object" && x !== null && !Array.isArray(x);

function parseJson(frame: Buffer, name: string, limits: DecodeLimits): { ok: true; value: JsonObject } | { ok: false; reason: string } {
  if (frame.length > limits.maxJsonBytes) return { ok: false, reason: `${name} frame of ${frame.length} bytes exceeds ${limits.maxJsonBytes}` };
  let value: unknown;
  try {
    value = JSON.parse(frame.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: `${name} is not valid JSON: ${(err as Error).message}` };
  }
  if (!isObject(value)) return { ok: false, reason: `${name} must be a JSON object` };
  return { ok: true, value };
}

function validateHeader(h: JsonObject, name: string): string | undefined {
  for (const f of ["msg_id", "msg_type", "session"] as const) {
    if (typeof h[f] !== "string" || h[f] === "") return `${name}.${f} must be a non-empty string`;
  }
  for (const f of ["username", "version", "date"] as const) {
    if (h[f] !== undefined && typeof h[f] !== "string") return `${name}.${f} must be a string`;
  }
  return undefined;
}

/**
 * The signatures of messages already accepted, as ipykernel's `digest_history`: a signed message
 * received a second time (a replay) is rejected. Bounded; the oldest signatures are forgotten first.
 */
export class DigestHistory {
  private readonly seen = new Set<string>();
  constructor(private readonly max = 1 << 16) {}

  /** Records the signature; false when it was already seen. */
  add(signature: string): boolean {
    if (this.seen.has(signature)) return false;
    this.seen.add(signature);
    if (this.seen.size > this.max) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}

/**
 * Parses the frames of one incoming message. Frame sizes are checked first, then the signature
 * (and, with `history`, that it was not seen before), and only then is any JSON parsed; a message
 * that fails any check is rejected with a reason and must not be acted upon.
 */
export function decode(frames: readonly Buffer[], signer: Signer, limits: DecodeLimits = DEFAULT_LIMITS, history?: DigestHistory): Decoded {
  const d = frames.findIndex((f) => f.equals(DELIMITER_BUF));
  if (d < 0) return { ok: false, reason: "no <IDS|MSG> delimiter" };
  if (frames.length < d + 6) return { ok: false, reason: `expected at least 5 frames after the delimiter, got ${frames.length - d - 1}` };
  const signature = frames[d + 1]!;
  const parts = frames.slice(d + 2, d + 6);
  const names = ["header", "parent_header", "metadata", "content"] as const;
  for (let i = 0; i < 4; i++) {
    // Before the signature: an oversized frame costs no HMAC over its bytes.
    if (parts[i]!.length > limits.maxJsonBytes) return { ok: false, reason: `${names[i]} frame of ${parts[i]!.length} bytes exceeds ${limits.maxJsonBytes}` };
  }
  if (!signer.verify(signature, parts)) return { ok: false, reason: "bad or missing signature" };
  if (history && signer.enabled && !history.add(signature.toString("latin1"))) return { ok: false, reason: "replayed message (signature seen before)" };
  const parsed: JsonObject[] = [];
  for (let i = 0; i < 4; i++) {
    const r = parseJson(parts[i]!, names[i]!, limits);
    if (!r.ok) return r;
    parsed.push(r.value);
  }
  const [header, parent, metadata, content] = parsed as [JsonObject, JsonObject, JsonObject, JsonObject];
  const bad = validateHeader(header, "header");
  if (bad) return { ok: false, reason: bad };
  return {
    ok: true,
    message: {
      identities: frames.slice(0, d),
      header: {
        msg_id: header.msg_id as string,
        msg_type: header.msg_type as string,
        session: header.session as string,
        username: (header.username as string | undefined) ?? "",
        date: (header.date as string | undefined) ?? "",
        version: (header.version as string | undefined) ?? "",
      },
      parent_header: parent as Partial<Header>,
      metadata,
      content,
      buffers: frames.slice(d + 6),
    },
  };
}

export function newHeader(msgType: string, session: string, username = "kernel"): Header {
  return {
    msg_id: randomUUID(),
    session,
    username,
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

/** Serialises a message to frames, signing it. */
export function encode(
  signer: Signer,
  identities: readonly Buffer[],
  header: Header,
  parent: Partial<Header>,
  metadata: JsonObject,
  content: JsonObject,
  buffers: readonly Buffer[] = [],
): Buffer[] {
  const parts = [
    Buffer.from(JSON.stringify(header)),
    Buffer.from(JSON.stringify(parent)),
    Buffer.from(JSON.stringify(metadata)),
    Buffer.from(JSON.stringify(content)),
  ];
  return [...identities, DELIMITER_BUF, Buffer.from(signer.sign(parts)), ...parts, ...buffers];
}
