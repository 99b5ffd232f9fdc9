// Observability, written once for every layer (internal): `NODE_DEBUG=dispatch-bridge` lines and
// the `node:diagnostics_channel` channels DESIGN names. Publishing costs a property read when
// nobody subscribes (`hasSubscribers`) and the debug log is off.
import diagnostics from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/** Which layer a message comes from. */
export type Layer = 'legacy' | 'modern' | 'mixed';

/** The channels (their names are public: see the README's Observability section). */
export const channels = {
  open: diagnostics.channel('dispatch-bridge:connection:open'),
  close: diagnostics.channel('dispatch-bridge:connection:close'),
  handlerError: diagnostics.channel('dispatch-bridge:handler:error'),
  route: diagnostics.channel('dispatch-bridge:route'),
  divergence: diagnostics.channel('dispatch-bridge:shadow:divergence'),
  shadowDrop: diagnostics.channel('dispatch-bridge:shadow:drop'),
  slowHandler: diagnostics.channel('dispatch-bridge:slow-handler'),
};

const log = debuglog('dispatch-bridge');

/** Whether the debug log is on (NODE_DEBUG=dispatch-bridge). */
export function debugEnabled(): boolean {
  return log.enabled;
}

/**
 * Whether a message on `channel` would go anywhere (a subscriber, or the debug log): a hot path
 * asks before it builds the message, so that an unobserved server allocates nothing for it.
 */
export function isObserved(channel: diagnostics.Channel): boolean {
  return channel.hasSubscribers || log.enabled;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'object' && value !== null) {
    if ('host' in value && 'port' in value) return `${String(value.host)}:${String(value.port)}`;
    if ('path' in value) return String(value.path);
    if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('latin1'));
  }
  return String(value);
}

/**
 * Publishes `message` on `channel` when someone subscribes, and writes one debug line
 * (`event id=… layer=… key=value …`) when NODE_DEBUG has dispatch-bridge.
 */
export function publish(
  channel: diagnostics.Channel,
  event: string,
  message: { id: number; layer: Layer } & Record<string, unknown>,
): void {
  if (channel.hasSubscribers) channel.publish(message);
  if (log.enabled) {
    let line = `${event} id=${message.id} layer=${message.layer}`;
    for (const [key, value] of Object.entries(message)) {
      if (key !== 'id' && key !== 'layer' && value !== undefined) {
        line += ` ${key}=${describe(value)}`;
      }
    }
    log('%s', line);
  }
}
