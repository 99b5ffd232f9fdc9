// What a writer knows about its transport (internal; asyncio's `get_extra_info`): the names, and
// the values derived from the Duplex when none were given.
import type { Duplex } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import { localAddress, peerAddress } from '../_core/address.js';

/** The names {@link StreamWriter.getExtraInfo} knows. */
export type ExtraInfoName = 'peername' | 'sockname' | 'socket' | 'peercert';

/** Given values of some names (a writer's `extraInfo` option). */
export type ExtraInfo = Partial<Record<ExtraInfoName, unknown>>;

/** No extra info given: one shared empty record. */
export const NO_EXTRA: ExtraInfo = Object.freeze({});

/**
 * The value of `name` derived from `stream`: `'peername'` and `'sockname'` as addresses (the
 * PROXY header's when there was one), `'socket'` the Duplex itself, `'peercert'` a TLS peer's
 * certificate; `undefined` when unknown.
 *
 * @example
 * ```ts
 * transportInfo(socket, 'peername'); // { host: '127.0.0.1', port: 53124, family: 'IPv4' }
 * ```
 */
export function transportInfo(stream: Duplex, name: ExtraInfoName): unknown {
  switch (name) {
    case 'socket':
      return stream;
    case 'peername':
      return peerAddress(stream);
    case 'sockname':
      return stream instanceof net.Socket ? localAddress(stream) : undefined;
    case 'peercert':
      return stream instanceof tls.TLSSocket ? stream.getPeerCertificate() : undefined;
    default:
      return undefined;
  }
}
