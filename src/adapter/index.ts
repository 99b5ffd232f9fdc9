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
export { MixedServer, startMixedServer } from './mixed-server.js';
export type {
  ErrorRole,
  ImplementationStats,
  MixedErrorInfo,
  MixedServerEvents,
  MixedServerOptions,
  MixedServerStats,
  RouteEvent,
} from './_mixed-types.js';
export type {
  AddressRule,
  FractionRule,
  Implementation,
  RouteInfo,
  RouteRule,
  SniffRule,
} from './_routing.js';
export type {
  DivergenceReport,
  ShadowDropReason,
  ShadowDropReport,
  ShadowOptions,
} from './_shadow.js';
export { upstream, type Upstream, type UpstreamOptions } from './upstream.js';
