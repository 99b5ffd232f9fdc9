/**
 * Request/response with per-request timeouts, legacy style (asynchat + timers). Compare with
 * `reqres-modern.ts`.
 *
 * Protocol: one request per line, one answer line per request, in order.
 * - `TIME` → `OK <ISO date>`
 * - `ECHO text` → `OK text`
 * - `SLOW n` → waits n ms, then `OK slept n`; past the request timeout: `ERROR timeout`
 * - `QUIT` → `OK bye`, then the server closes the connection
 * - anything else → `ERROR unknown command`; a bad `n` → `ERROR bad argument`
 *
 * The callback way to wait: start a timer and return. One timer does the work, a second one is
 * the deadline; whichever fires first answers and cancels the other. While a request runs,
 * `readable()` is false: nothing more is read (requests that came in the same chunk wait in a
 * small queue), just as the modern version does not read while it awaits an answer.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { AsyncChat, Dispatcher, LimitOverrunError, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** Options of the request/response servers (both styles). */
export interface RequestServerOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Milliseconds a request may take before it is answered `ERROR timeout`. Default 1_000. */
  requestTimeout?: number;
}

const MAX_LINE = 1024;
const MAX_SLOW = 60_000;

class RequestHandler extends AsyncChat {
  #parts: Buffer[] = [];
  #queue: string[] = [];
  #busy = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(
    socket: Duplex,
    map: SocketMap,
    readonly requestTimeout: number,
  ) {
    super({ socket, map, maxIncoming: MAX_LINE });
    this.setTerminator('\n');
  }

  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }

  override foundTerminator(): void {
    const line = Buffer.concat(this.#parts.splice(0)).toString('utf8');
    this.#queue.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    this.#next();
  }

  // Read only when idle: the queue then never holds more than one received chunk's requests.
  override readable(): boolean {
    return !this.#busy && this.#queue.length === 0;
  }

  // Answer queued requests until one has to wait (SLOW) or the queue is empty.
  #next(): void {
    while (!this.#busy && this.#queue.length > 0 && !this.closed) {
      const line = this.#queue.shift() as string;
      const space = line.indexOf(' ');
      const command = space === -1 ? line : line.slice(0, space);
      const argument = space === -1 ? '' : line.slice(space + 1);
      if (command === 'TIME') this.push(`OK ${new Date().toISOString()}\n`);
      else if (command === 'ECHO') this.push(`OK ${argument}\n`);
      else if (command === 'SLOW') this.#slow(argument);
      else if (command === 'QUIT') {
        this.#queue.length = 0;
        this.push('OK bye\n');
        this.closeWhenDone();
      } else this.push('ERROR unknown command\n');
    }
  }

  #slow(argument: string): void {
    const ms = /^\d+$/.test(argument) ? Number(argument) : NaN;
    if (!(ms <= MAX_SLOW)) {
      this.push('ERROR bad argument\n');
      return;
    }
    this.#busy = true;
    const answer = (reply: string): void => {
      for (const timer of this.#timers.splice(0)) clearTimeout(timer); // cancel the loser
      this.#busy = false;
      this.push(`${reply}\n`);
      this.#next();
      // A timer is not a handler: tell the loop that readable() may have changed.
      this.wake();
    };
    this.#timers.push(
      setTimeout(() => answer(`OK slept ${ms}`), ms), // the "work"
      setTimeout(() => answer('ERROR timeout'), this.requestTimeout), // the deadline
    );
  }

  override handleClose(): void {
    for (const timer of this.#timers.splice(0)) clearTimeout(timer); // no timer outlives us
    this.close();
  }

  override handleError(error: unknown): void {
    this.handleClose(); // clear the timers, whatever happened
    if (error instanceof LimitOverrunError) return; // a line longer than MAX_LINE: just close
    super.handleError(error); // anything else is a bug: log it
  }
}

class RequestServer extends Dispatcher {
  constructor(
    map: SocketMap,
    readonly requestTimeout: number,
  ) {
    super({ map });
  }

  override handleAccepted(socket: Duplex): void {
    new RequestHandler(socket, this.map, this.requestTimeout);
  }
}

/**
 * Start the legacy request/response server on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await startRequestLegacy({ requestTimeout: 500 });
 * await server.close();
 * ```
 */
export async function startRequestLegacy(
  options: RequestServerOptions = {},
): Promise<RunningServer> {
  const map = new SocketMap();
  const server = new RequestServer(map, options.requestTimeout ?? 1_000);
  server.bind({ host: '127.0.0.1', port: options.port ?? 0 });
  await server.listen();
  const done = loop({ map });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => map.size - 1, // every dispatcher but the listener
    async close() {
      map.closeAll();
      await done;
    },
  };
}

runIfMain(import.meta.url, startRequestLegacy, 'commands: TIME, ECHO text, SLOW ms, QUIT');
