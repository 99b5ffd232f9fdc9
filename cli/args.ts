/**
 * The command line of `dispatch-bridge`: a pure parser (no I/O) over Node's `util.parseArgs`, so
 * that every flag can be tested as a function.
 *
 * @module
 */
import { parseArgs as parseNodeArgs } from 'node:util';

/** The protocols `serve` can run. */
export const EXAMPLES = ['chat', 'echo', 'kv'] as const;
/** One of {@link EXAMPLES}. */
export type Example = (typeof EXAMPLES)[number];

/** The styles `serve` can run a protocol in. */
export const STYLES = ['legacy', 'modern', 'mixed'] as const;
/** One of {@link STYLES}. */
export type Style = (typeof STYLES)[number];

/** What `serve` was asked to do. */
export interface ServeOptions {
  example: Example;
  style: Style;
  host: string;
  port: number;
  /** 1: serve in this process; more: that many `node:cluster` workers share the port. */
  workers: number;
  /** One line per connection open, route, error and close on stderr (`--log`). */
  log?: boolean;
  /** Serve Prometheus metrics on 127.0.0.1:PORT/metrics (`--metrics PORT`). */
  metrics?: number;
  /**
   * `--shadow`: the other style runs as the shadow of `style` (which answers the clients); each
   * divergence is printed, with a running summary. Only `legacy` or `modern`, in one process.
   */
  shadow?: boolean;
}

/** The examples `proxy --shadow` can run as the in-process shadow of the upstream. */
export const SHADOW_EXAMPLES = ['echo', 'kv'] as const;

/** What `proxy` was asked to do. */
export interface ProxyOptions {
  listen: { host: string; port: number };
  upstream: { host: string; port: number };
  /** The in-process implementation that shadows the upstream, if any. */
  shadow: (typeof SHADOW_EXAMPLES)[number] | undefined;
}

/** What each example does: printed under the address by `serve`. */
export const HINTS = {
  chat: 'type a line to send it to the others; /quit leaves',
  echo: 'everything you type comes back',
  kv: 'SET key value | GET key | DEL key | INCR key | KEYS [prefix] | DUMP [prefix] | QUIT',
} as const;

/** A parsed command line. */
export type Command =
  | { command: 'help' }
  | { command: 'version' }
  | { command: 'demo'; quick: boolean }
  | ({ command: 'serve' } & ServeOptions)
  | ({ command: 'proxy' } & ProxyOptions);

/** A bad command line: the message is printed with the usage text, and the exit code is 2. */
export class UsageError extends Error {
  /** @example `throw new UsageError('Unknown flag `--colour`')` */
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The usage text printed by `--help` and after a bad command line. */
export const USAGE = `Usage:
  dispatch-bridge [demo] [--quick]
      Serve one protocol in the legacy, modern and mixed styles, check each with a scripted
      client, load it, and print a table (correct, messages per second, CPU per message).
      With no command at all, dispatch-bridge runs this demo (it is what npm start runs).
      --quick   a tiny run (a second or so)
      Ctrl+C interrupts it: the servers close, and it exits 130.

  dispatch-bridge serve [--example chat|echo|kv] [--style legacy|modern|mixed]
                        [--port 7000] [--host 127.0.0.1] [--workers N] [--shadow]
      Serve an example until Ctrl+C (SIGINT) or SIGTERM; try it with nc HOST PORT.
      --example  the protocol (default: chat)
      --style    legacy (asyncore/asynchat callbacks), modern (async/await streams), or
                 mixed (one port, connections split between both) (default: legacy)
      --port     TCP port, 0 for any free one (default: 7000)
      --host     address to listen on (default: 127.0.0.1)
      --workers  N processes sharing the port through node:cluster (default: 1)
      --log      one line per connection (open, route, error, close) on stderr
      --metrics PORT  Prometheus metrics on http://127.0.0.1:PORT/metrics (0: any free port;
                 needs prom-client)
      --shadow   the other style runs as the shadow of --style legacy|modern (echo, kv): it
                 gets a copy of each client's input, its output is compared, and each
                 divergence is printed (offset, both sides), with a running summary
      Ctrl+C closes the server and its connections, then exits 0; a second Ctrl+C while
      it closes changes nothing (the close is bounded), and it still exits 0.

  dispatch-bridge proxy --upstream HOST:PORT [--listen 127.0.0.1:7000] [--shadow echo|kv]
      Put a mixed server in front of the server that runs today (in any language): every
      client is served by the upstream, through a transparent proxy. With --shadow, the
      example's TypeScript implementation gets a copy of each client's input and its output is
      compared: each divergence is printed (offset, both sides), and a summary on Ctrl+C.

  dispatch-bridge --help | -h
  dispatch-bridge --version | -v
`;

const DEFAULTS: ServeOptions = {
  example: 'chat',
  style: 'legacy',
  host: '127.0.0.1',
  port: 7000,
  workers: 1,
};

/** The most workers `--workers` accepts. */
export const MAX_WORKERS = 64;

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((item) => item === value);
  if (found === undefined) {
    throw new UsageError(
      `Invalid value for ${flag}: expected one of ${allowed.join(', ')}, got \`${value}\``,
    );
  }
  return found;
}

function integer(flag: string, value: string, min: number, max: number): number {
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(
      `Invalid value for ${flag}: expected an integer from ${min} to ${max}, got \`${value}\``,
    );
  }
  return number;
}

type Token = NonNullable<ReturnType<typeof parseNodeArgs>['tokens']>[number];

/**
 * Node's `util.parseArgs` in its lenient mode, which keeps every token so that the messages
 * below can name exactly what was wrong (its strict mode throws its own, less specific ones).
 */
function tokenize(
  args: readonly string[],
  names: readonly string[],
  type: 'string' | 'boolean',
): Token[] {
  const options = Object.fromEntries(names.map((name) => [name, { type }]));
  return parseNodeArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  }).tokens;
}

/**
 * Parse the arguments after the program name (`process.argv.slice(2)`), with Node's
 * `util.parseArgs`. `--flag value` and `--flag=value` are both accepted; no arguments at all
 * means `demo`. Throws a {@link UsageError} for anything it does not know.
 *
 * @example
 * ```ts
 * parseArgs(['serve', '--style', 'modern', '--port=0']);
 * // { command: 'serve', example: 'chat', style: 'modern', host: '127.0.0.1', port: 0, workers: 1 }
 * parseArgs([]); // { command: 'demo', quick: false }: a bare `dispatch-bridge` runs the demo
 * ```
 */
export function parseArgs(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) return { command: 'demo', quick: false };
  if (argv.includes('--help') || argv.includes('-h')) return { command: 'help' };
  if (first === '--version' || first === '-v') {
    if (rest.length > 0) throw new UsageError(`Unexpected argument \`${rest[0]}\``);
    return { command: 'version' };
  }
  if (first === 'demo' || first === '--quick') {
    return { command: 'demo', quick: parseDemo(first === 'demo' ? rest : argv) };
  }
  if (first === 'serve') return { command: 'serve', ...parseServe(rest) };
  if (first === 'proxy') return { command: 'proxy', ...parseProxy(rest) };
  if (first.startsWith('-')) throw new UsageError(`Unknown flag \`${first}\``);
  throw new UsageError(`Unknown command \`${first}\`: expected demo, serve or proxy`);
}

function parseDemo(args: readonly string[]): boolean {
  let quick = false;
  for (const token of tokenize(args, ['quick'], 'boolean')) {
    if (token.kind === 'positional') throw new UsageError(`Unexpected argument \`${token.value}\``);
    if (token.kind === 'option-terminator') continue;
    if (token.name !== 'quick') throw new UsageError(`Unknown flag \`${token.rawName}\` for demo`);
    if (token.inlineValue === true) throw new UsageError('Flag `--quick` takes no value');
    quick = true;
  }
  return quick;
}

const SERVE_FLAGS = [
  'example',
  'style',
  'port',
  'host',
  'workers',
  'log',
  'metrics',
  'shadow',
] as const;

const SERVE_BOOLEANS = ['--log', '--shadow'] as const;

function parseServe(args: readonly string[]): ServeOptions {
  const options: ServeOptions = { ...DEFAULTS };
  const seen = new Set<string>();
  for (const flag of SERVE_BOOLEANS) {
    const count = args.filter((arg) => arg === flag).length;
    if (count > 1) throw new UsageError(`Flag \`${flag}\` given twice`);
    if (count === 1 && flag === '--log') options.log = true;
    if (count === 1 && flag === '--shadow') options.shadow = true;
  }
  const strings = args.filter((arg) => !(SERVE_BOOLEANS as readonly string[]).includes(arg));
  for (const token of tokenize(strings, SERVE_FLAGS, 'string')) {
    if (token.kind === 'positional') throw new UsageError(`Unexpected argument \`${token.value}\``);
    if (token.kind === 'option-terminator') continue;
    const flag = token.rawName;
    const name = SERVE_FLAGS.find((known) => known === token.name && flag === `--${known}`);
    if (name === undefined) throw new UsageError(`Unknown flag \`${flag}\` for serve`);
    if (seen.has(name)) throw new UsageError(`Flag \`${flag}\` given twice`);
    seen.add(name);
    const value = token.value;
    // `--port --host x`: parseArgs takes `--host` as the value; that is a missing value.
    if (value === undefined || (token.inlineValue !== true && value.startsWith('--'))) {
      throw new UsageError(`Missing value for ${flag}`);
    }
    switch (name) {
      case 'example':
        options.example = oneOf(flag, value, EXAMPLES);
        break;
      case 'style':
        options.style = oneOf(flag, value, STYLES);
        break;
      case 'port':
        options.port = integer(flag, value, 0, 65535);
        break;
      case 'workers':
        options.workers = integer(flag, value, 1, MAX_WORKERS);
        break;
      case 'host':
        if (value === '') throw new UsageError('Invalid value for --host: expected an address');
        options.host = value;
        break;
      case 'metrics':
        options.metrics = integer(flag, value, 0, 65535);
        break;
      case 'log':
        throw new UsageError('Flag `--log` takes no value');
      case 'shadow':
        throw new UsageError('Flag `--shadow` takes no value');
    }
  }
  if (options.shadow === true) {
    if (options.style === 'mixed') {
      throw new UsageError(
        'Flag `--shadow` needs --style legacy or modern (the primary; the other style is the shadow)',
      );
    }
    if (options.workers > 1) {
      throw new UsageError('Flag `--shadow` runs in one process: drop --workers');
    }
  }
  return options;
}

function endpoint(flag: string, value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (match === null) {
    throw new UsageError(`Invalid value for ${flag}: expected HOST:PORT, got \`${value}\``);
  }
  return { host: (match[1] ?? match[2])!, port: integer(flag, match[3]!, 0, 65535) };
}

const PROXY_FLAGS = ['listen', 'upstream', 'shadow'] as const;

function parseProxy(args: readonly string[]): ProxyOptions {
  let listen = { host: '127.0.0.1', port: 7000 };
  let upstream: { host: string; port: number } | undefined;
  let shadow: ProxyOptions['shadow'];
  const seen = new Set<string>();
  for (const token of tokenize(args, PROXY_FLAGS, 'string')) {
    if (token.kind === 'positional') throw new UsageError(`Unexpected argument \`${token.value}\``);
    if (token.kind === 'option-terminator') continue;
    const flag = token.rawName;
    const name = PROXY_FLAGS.find((known) => known === token.name && flag === `--${known}`);
    if (name === undefined) throw new UsageError(`Unknown flag \`${flag}\` for proxy`);
    if (seen.has(name)) throw new UsageError(`Flag \`${flag}\` given twice`);
    seen.add(name);
    const value = token.value;
    if (value === undefined || (token.inlineValue !== true && value.startsWith('--'))) {
      throw new UsageError(`Missing value for ${flag}`);
    }
    if (name === 'listen') listen = endpoint(flag, value);
    else if (name === 'upstream') upstream = endpoint(flag, value);
    else shadow = oneOf(flag, value, SHADOW_EXAMPLES);
  }
  if (upstream === undefined) throw new UsageError('Missing --upstream HOST:PORT for proxy');
  if (upstream.port === 0) throw new UsageError('Invalid value for --upstream: port 0');
  return { listen, upstream, shadow };
}
