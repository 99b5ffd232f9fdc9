/**
 * `serve --log`: one line per connection event on stderr, from the library's diagnostics
 * channels (every layer publishes them): open, route (the implementation, in the mixed style),
 * handler error, close.
 *
 * @module
 */
import diagnostics from 'node:diagnostics_channel';

type Message = { id: number; layer: string; implementation?: string; shadow?: string } & Record<
  string,
  unknown
>;

function address(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '-';
  if ('host' in value && 'port' in value) return `${String(value.host)}:${String(value.port)}`;
  if ('path' in value) return String(value.path);
  return '-';
}

const FORMATS: Record<string, (message: Message) => string> = {
  'dispatch-bridge:connection:open': (m) =>
    `open ${m.layer}#${m.id} from ${address(m.remoteAddress)}`,
  'dispatch-bridge:route': (m) =>
    `route ${m.layer}#${m.id} to ${m.implementation ?? '?'}${m.shadow === undefined ? '' : ` (shadow ${m.shadow})`}`,
  'dispatch-bridge:handler:error': (m) =>
    `error ${m.layer}#${m.id}${m.implementation === undefined ? '' : ` (${m.implementation ?? '?'})`}: ${
      m.error instanceof Error ? m.error.message : String(m.error)
    }`,
  'dispatch-bridge:connection:close': (m) =>
    `close ${m.layer}#${m.id} (${String(m.bytesIn)} bytes in, ${String(m.bytesOut)} out)`,
};

/**
 * Starts logging; returns the function that stops it.
 *
 * @example
 * ```ts
 * const stop = logConnections((line) => process.stderr.write(line));
 * ```
 */
export function logConnections(write: (line: string) => void): () => void {
  const subscribers: [string, (message: unknown) => void][] = [];
  for (const [name, format] of Object.entries(FORMATS)) {
    const subscriber = (message: unknown): void => {
      write(`${new Date().toISOString()} ${format(message as Message)}\n`);
    };
    diagnostics.subscribe(name, subscriber);
    subscribers.push([name, subscriber]);
  }
  return () => {
    for (const [name, subscriber] of subscribers) diagnostics.unsubscribe(name, subscriber);
  };
}
