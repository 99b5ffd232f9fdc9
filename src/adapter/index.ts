/**
 * The adapter layer: converts legacy handler events into awaitable streams and back.
 *
 * @module
 */
export {
  fromEvents,
  toCallbacks,
  type CallbackSink,
  type EmitterLike,
  type EventIterator,
  type EventSourceLike,
  type EventTargetLike,
  type FromEventsOptions,
  type OverflowPolicy,
  type ToCallbacksOptions,
} from './events.js';
export { toStreams, type DispatcherStreams, type ToStreamsOptions } from './streams.js';
export type { BridgeOptions } from './_dispatcher-bridge.js';
export {
  asDispatcherClass,
  asStreamHandler,
  type AsDispatcherClassOptions,
  type AsStreamHandlerOptions,
  type LegacyHandlerClass,
  type LegacyHandlerOptions,
  type StreamHandlerDispatcher,
  type StreamHandlerDispatcherClass,
} from './handlers.js';
export {
  MixedServer,
  startMixedServer,
  type AddressRule,
  type DivergenceReport,
  type ErrorRole,
  type FractionRule,
  type Implementation,
  type MixedErrorInfo,
  type MixedServerEvents,
  type MixedServerOptions,
  type MixedServerStats,
  type ImplementationStats,
  type RouteEvent,
  type RouteInfo,
  type RouteRule,
  type ShadowDropReason,
  type ShadowDropReport,
  type ShadowOptions,
  type SniffRule,
} from './mixed-server.js';
export { upstream, type Upstream, type UpstreamOptions } from './upstream.js';
