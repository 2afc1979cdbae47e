/**
 * ZeroMQ sockets of the main thread (shell, stdin). Sends on one socket are serialised:
 * zeromq.js allows one pending send per socket and throws EBUSY when too many pile up.
 */
import { Buffer } from "node:buffer";
import * as zmq from "zeromq";
import { type ConnectionInfo, endpoint } from "./wire.js";

/** Queues sends so that exactly one is in flight per socket, in order. */
export class SerialSender {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Writable, private readonly onError: (err: unknown) => void) {}

  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(
      () => this.socket.send(frames),
    ).catch((err: unknown) => this.onError(err));
    this.tail = next;
    return next;
  }

  /** Resolves once everything queued so far has been handed to ZeroMQ. */
  flush(): Promise<void> {
    return this.tail;
  }
}

/** Shell and stdin live on the main thread; heartbeat, control and IOPub on the I/O thread. */
export interface MainSockets {
  shell: zmq.Router;
  stdin: zmq.Router;
}

const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export async function bindMainSockets(info: ConnectionInfo): Promise<MainSockets> {
  const shell = new zmq.Router({ maxMessageSize: MAX_MESSAGE_BYTES, linger: 0 });
  const stdin = new zmq.Router({ maxMessageSize: MAX_MESSAGE_BYTES, linger: 0 });
  await Promise.all([shell.bind(endpoint(info, info.shell_port)), stdin.bind(endpoint(info, info.stdin_port))]);
  return { shell, stdin };
}

export function closeMainSockets(s: MainSockets): void {
  for (const sock of [s.shell, s.stdin]) {
    try {
      sock.close();
    } catch {
      // already closed
    }
  }
}
