// What the scale part of `npm run bench` measures (the plan: which servers run beside which, and
// each target of issue #12, #15 and #16), and how its results become the tables and the met/MISSED
// verdicts of bench/RESULTS.md. Pure functions over plain data: test/bench checks them on
// made-up figures, bench/scale.ts fills them with measured ones.

/** The sizes of one scale run; `--quick` shrinks them all. */
export interface ScaleConfig {
  /** Concurrent connections of the ping-pong rows (64-byte lines). */
  scales: number[];
  /** Length of one measured segment (a row or its reference), ms. */
  segmentMs: number;
  /**
   * The segments of a group with `palindromes` (the ≤ 1.05× rows) at up to `upTo` connections:
   * `palindromes` palindromes of `segmentMs` each instead. Short segments interleave the row and
   * its reference more finely, so that the machine's slow drift cancels out: at 1,000 connections
   * 12 palindromes of 500 ms read the `{ signal }` row at 1.02×, 1.015× and 1.025× in three runs,
   * where 3 of 2 s read 0.98–1.41× (at 10,000 connections 500 ms is two round trips per
   * connection, whose start and end weigh too much, so that scale keeps the long segments).
   */
  fine: { upTo: number; segmentMs: number; palindromes: number };
  /** Whether every server first runs one segment that is not counted (JIT warm-up, at the first scale). */
  warmUp: boolean;
  /** Only these rows (a group is kept when its first server is listed); all when absent. */
  rows?: readonly string[];
  /** Idle connections held for the memory row. */
  idleConnections: number;
  /** Idle connections beside the one busy connection. */
  busyIdle: number;
  /** Round trips of the busy connection, alone and beside the idle ones. */
  busyMessages: number;
  /** Concurrent connections of the PROXY-header and diagnostics rows. */
  featureConnections: number;
}

export const FULL: ScaleConfig = {
  scales: [1_000, 10_000],
  segmentMs: 2_000,
  fine: { upTo: 1_000, segmentMs: 500, palindromes: 12 },
  warmUp: true,
  idleConnections: 5_000,
  busyIdle: 10_000,
  busyMessages: 20_000,
  featureConnections: 1_000,
};

export const QUICK: ScaleConfig = {
  scales: [50, 200],
  segmentMs: 150,
  fine: { upTo: 50, segmentMs: 100, palindromes: 3 },
  warmUp: false,
  idleConnections: 200,
  busyIdle: 200,
  busyMessages: 300,
  featureConnections: 50,
};

/** A server is saturated when it used at least this share of one core during its segments. */
export const SATURATED = 0.85;

/** One comparison of server CPU per message: `row` ÷ `reference`, both measured in one group. */
export interface Check {
  row: string;
  reference: string;
  /** The largest acceptable ratio; undefined: printed for information. */
  target?: number;
}

/** Servers measured together (interleaved segments), and the ratios read from them. */
export interface Group {
  section: 'scale' | 'proxy' | 'diagnostics';
  /** The servers, the row under test first; raw net is always among them. */
  servers: string[];
  checks: Check[];
  /**
   * Palindromes measured at each scale (default 1). A tight target over a reference that is not
   * raw net (≤ 1.05×) takes 3: its ratio is then the median of the palindromes' ratios, which one
   * disturbed segment cannot move (single palindromes of such rows read 0.85–1.50× across runs);
   * at small scales such a group runs the config's `fine` segments instead (see segmentPlan).
   */
  palindromes?: number;
}

/** How one group is measured at one scale: segments of `segmentMs`, `palindromes` of them. */
export interface SegmentPlan {
  segmentMs: number;
  palindromes: number;
}

/**
 * The segments of `group` at `connections`: the config's `fine` ones for a group with
 * `palindromes` at up to `fine.upTo` connections, otherwise `segmentMs` × `palindromes` (or 1).
 *
 * @example
 * ```ts
 * segmentPlan(signalGroup, 1_000, FULL); // { segmentMs: 500, palindromes: 12 }
 * ```
 */
export function segmentPlan(group: Group, connections: number, config: ScaleConfig): SegmentPlan {
  if (group.palindromes !== undefined && connections <= config.fine.upTo) {
    return { segmentMs: config.fine.segmentMs, palindromes: config.fine.palindromes };
  }
  return { segmentMs: config.segmentMs, palindromes: group.palindromes ?? 1 };
}

const RAW = 'raw net';

/**
 * Raw net plus one async function per connection awaiting one promise per chunk, and the reaction
 * that learns when it ends: what a waiting await-style handler holds by construction, whatever
 * library runs it. Printed for information, beside the rows it bounds from below.
 */
export const FLOOR = 'async floor';

/** Issue #12: every style at every scale, ≤ 1.15× raw net (legacy, modern), ≤ 1.3× (adapters). */
export const SCALE_GROUPS: Group[] = [
  ...[
    ['legacy AsyncChat', 1.15],
    ['legacy Dispatcher', 1.15],
    ['modern readLine', 1.15],
    ['legacy on modern', 1.3],
    ['modern on legacy', 1.3],
    ['mixed halves', 1.3],
  ].map(([row, target]): Group => {
    const name = row as string;
    const check = { row: name, reference: RAW, target: target as number };
    // The asyncio style beside the least any awaiting handler costs (see FLOOR).
    if (name === 'modern readLine') {
      return {
        section: 'scale',
        servers: [name, RAW, FLOOR],
        checks: [check, { row: name, reference: FLOOR }, { row: FLOOR, reference: RAW }],
      };
    }
    return { section: 'scale', servers: [name, RAW], checks: [check] };
  }),
  {
    section: 'scale',
    servers: ['modern readLine signal', 'modern readLine', RAW],
    checks: [
      { row: 'modern readLine signal', reference: 'modern readLine', target: 1.05 },
      { row: 'modern readLine signal', reference: RAW },
    ],
    palindromes: 3,
  },
];

/** Issue #15: the PROXY v1 header parsed once per connection, within noise (≤ 1.05×). */
export const PROXY_GROUPS: Group[] = [
  ['modern readLine proxy v1', 'modern readLine'],
  ['mixed proxy v1', 'mixed'],
].map(([row, without]) => ({
  section: 'proxy',
  servers: [row!, without!, RAW],
  checks: [
    { row: row!, reference: without!, target: 1.05 },
    { row: row!, reference: RAW },
  ],
  palindromes: 3,
}));

/**
 * Issue #16: a subscriber on every channel against none (the cost when used, for information),
 * and the unsubscribed row against raw net at its usual target (free when unused).
 */
export const DIAGNOSTICS_GROUPS: Group[] = [
  ['legacy AsyncChat', 1.15],
  ['modern readLine', 1.15],
  ['mixed', 1.3],
].map(([row, target]) => {
  const name = row as string;
  return {
    section: 'diagnostics',
    servers: [`${name} observed`, name, RAW],
    checks: [
      { row: `${name} observed`, reference: name },
      { row: name, reference: RAW, target: target as number },
    ],
  };
});

/** Idle memory rows and their targets against raw net (≤ 1.25× legacy and modern, ≤ 1.5× others). */
export const IDLE_ROWS: { row: string; target?: number }[] = [
  { row: FLOOR },
  { row: 'legacy Dispatcher', target: 1.25 },
  { row: 'legacy AsyncChat', target: 1.25 },
  { row: 'modern readLine', target: 1.25 },
  { row: 'legacy on modern', target: 1.5 },
  { row: 'modern on legacy', target: 1.5 },
  { row: 'mixed', target: 1.5 },
];

/** One busy connection beside the idle ones: its rate ≥ 0.8× alone (raw net for information). */
export const BUSY_ROWS: { row: string; target?: number }[] = [
  { row: RAW },
  { row: 'legacy AsyncChat', target: 0.8 },
  { row: 'legacy Dispatcher', target: 0.8 },
  { row: 'modern readLine', target: 0.8 },
];

/** Mixed fairness at the largest scale: min ≥ 0.5× median; the halves within 1.3×. */
export const FAIRNESS = { row: 'mixed halves', minOfMedian: 0.5, halves: 1.3 };

/** What the C client reports for one measured run (see bench/native/epoll-client.c). */
export interface ClientResult {
  messages: number;
  elapsedMs: number;
  cpuMs: number;
  mismatches: number;
  min: number;
  median: number;
  evenMin: number;
  evenMedian: number;
  evenMean: number;
  oddMin: number;
  oddMedian: number;
  oddMean: number;
}

/** One segment: the client's report and the server's CPU time over it. */
export interface Segment {
  client: ClientResult;
  serverCpuMs: number;
}

/** The segments of each server of a group, at one scale. */
export interface GroupResult {
  group: Group;
  connections: number;
  segments: Record<string, Segment[]>;
}

export interface IdleResult {
  /** Idle connections held before the measured ones, and measured. */
  connections: number;
  /**
   * Live bytes (JS heap and external, after a full gc) one more idle connection adds, per row
   * (see bench/scale.ts' idleBytes); raw net's is the mean of a run before and after the rows.
   */
  bytesPerConnection: Record<string, number>;
}

export interface BusyResult {
  idle: number;
  rows: {
    row: string;
    /** Round trips per second of the connection alone (mean of a run before and after). */
    alone: number;
    /** The same beside `idle` idle connections. */
    crowded: number;
    serverCores: number;
    clientCores: number;
  }[];
}

export interface ScaleResults {
  config: ScaleConfig;
  groups: GroupResult[];
  /** Measurements that failed (the run goes on without them), with the error. */
  failures: { what: string; section: Section; error: string }[];
  idle?: IdleResult;
  busy?: BusyResult;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const fmt = (n: number, digits = 2): string => n.toFixed(digits);

/** The figures of one server over its segments. */
export function figures(segments: Segment[]): {
  messagesPerSecond: number;
  cpuPerMessage: number;
  serverCores: number;
  clientCores: number;
  min: number;
  median: number;
} {
  const messages = sum(segments.map((s) => s.client.messages));
  const elapsed = sum(segments.map((s) => s.client.elapsedMs));
  const serverCpu = sum(segments.map((s) => s.serverCpuMs));
  return {
    messagesPerSecond: messages / (elapsed / 1000),
    cpuPerMessage: (serverCpu * 1000) / messages,
    serverCores: serverCpu / elapsed,
    clientCores: sum(segments.map((s) => s.client.cpuMs)) / elapsed,
    min: Math.min(...segments.map((s) => s.client.min)),
    median: Math.round(sum(segments.map((s) => s.client.median)) / segments.length),
  };
}

/**
 * Server CPU per message of `row` ÷ that of `reference`, measured in the same group: over the
 * two segments of each palindrome, the median over the palindromes.
 */
export function ratio(result: GroupResult, row: string, reference: string): number {
  const own = result.segments[row];
  const other = result.segments[reference];
  if (!own || !other) throw new RangeError(`No segments of ${row} or ${reference}`);
  const ratios: number[] = [];
  for (let at = 0; at + 1 < Math.min(own.length, other.length); at += 2) {
    const pair = (segments: Segment[]): Segment[] => segments.slice(at, at + 2);
    ratios.push(figures(pair(own)).cpuPerMessage / figures(pair(other)).cpuPerMessage);
  }
  if (ratios.length === 0) return figures(own).cpuPerMessage / figures(other).cpuPerMessage;
  ratios.sort((a, b) => a - b);
  const middle = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[middle]! : (ratios[middle - 1]! + ratios[middle]!) / 2;
}

const verdict = (value: number, target: number, atMost = true): string =>
  (atMost ? value <= target : value >= target) ? 'met' : 'MISSED';

/** The fairness figures of the mixed server (worst segment), or undefined if not measured. */
export function fairness(results: ScaleResults):
  | {
      connections: number;
      median: number;
      min: number;
      minOfMedian: number;
      legacyMean: number;
      modernMean: number;
      halves: number;
    }
  | undefined {
  const largest = Math.max(...results.config.scales);
  const result = results.groups.find(
    (g) => g.group.servers[0] === FAIRNESS.row && g.connections === largest,
  );
  const segments = result?.segments[FAIRNESS.row];
  if (!result || !segments || segments.length === 0) return undefined;
  // Each segment on its own (connections are new in each), the worst one reported.
  const worst = (pick: (s: Segment) => number, highest: boolean): Segment =>
    segments.reduce((a, b) => ((highest ? pick(b) > pick(a) : pick(b) < pick(a)) ? b : a));
  const ofMedian = (s: Segment): number => s.client.min / Math.max(1, s.client.median);
  const halves = (s: Segment): number =>
    Math.max(s.client.evenMean, s.client.oddMean) /
    Math.max(1e-9, Math.min(s.client.evenMean, s.client.oddMean));
  const unfair = worst(ofMedian, false);
  const split = worst(halves, true);
  return {
    connections: largest,
    median: unfair.client.median,
    min: unfair.client.min,
    minOfMedian: ofMedian(unfair),
    // Even-numbered connections start with "L": the legacy half.
    legacyMean: split.client.evenMean,
    modernMean: split.client.oddMean,
    halves: halves(split),
  };
}

const cores = (n: number): string => `${fmt(n)} core`;

/** The sections of the scale part, in the order RESULTS.md prints them. */
export const SECTIONS = ['scale', 'proxy', 'diagnostics', 'idle', 'busy', 'fairness'] as const;
export type Section = (typeof SECTIONS)[number];

/**
 * The Markdown of each measured section of the scale part: its table and its verdicts (met /
 * MISSED, or "for information"), for the terminal and RESULTS.md. Sections not measured are
 * left out.
 */
export function renderScale(
  results: ScaleResults,
): Partial<Record<Section, { table: string; verdicts: string[] }>> {
  const verdicts: Record<Section, string[]> = {
    scale: [],
    proxy: [],
    diagnostics: [],
    idle: [],
    busy: [],
    fairness: [],
  };
  let measured = false;
  const unsaturated: string[] = [];
  const comparison = (section: Group['section']): string => {
    const lines = [
      '| row | connections | msg/s | server CPU µs/msg | CPU ratio | target | server CPU | raw net CPU | client CPU | round trips min / median | saturated |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ];
    for (const result of results.groups.filter((g) => g.group.section === section)) {
      measured = true;
      const raw = figures(result.segments[RAW]!);
      const rows = [...new Set(result.group.checks.map((c) => c.row))];
      for (const row of rows) {
        const own = figures(result.segments[row]!);
        const checks = result.group.checks.filter((c) => c.row === row);
        const ratios = checks.map((c) => `${fmt(ratio(result, row, c.reference))}× ${c.reference}`);
        const targets = checks
          .filter((c) => c.target !== undefined)
          .map((c) => `≤ ${c.target}× ${c.reference === RAW ? '' : c.reference}`.trim());
        const saturated = own.serverCores >= SATURATED && raw.serverCores >= SATURATED;
        if (!saturated) unsaturated.push(`${row} at ${result.connections}`);
        lines.push(
          `| ${row} | ${result.connections} | ${fmt(own.messagesPerSecond, 0)} | ${fmt(
            own.cpuPerMessage,
          )} | ${ratios.join(', ')} | ${targets.join(', ')} | ${cores(own.serverCores)} | ${cores(
            raw.serverCores,
          )} | ${cores(own.clientCores)} | ${own.min} / ${own.median} | ${saturated ? 'yes' : 'no'} |`,
        );
        for (const check of checks) {
          const value = ratio(result, row, check.reference);
          const text = `- ${row} at ${result.connections} connections: server CPU per message ${fmt(
            value,
          )}× ${check.reference}`;
          verdicts[section].push(
            check.target === undefined
              ? `${text} (for information)`
              : `${text} (target ≤ ${check.target}×): ${verdict(value, check.target)}`,
          );
        }
      }
    }
    return lines.join('\n');
  };
  const tables = {
    scale: comparison('scale'),
    proxy: comparison('proxy'),
    diagnostics: comparison('diagnostics'),
    idle: '',
    busy: '',
    fairness: '',
  };

  if (results.idle) {
    const { connections, bytesPerConnection } = results.idle;
    const raw = bytesPerConnection[RAW]!;
    const floor = bytesPerConnection[FLOOR];
    const lines = [
      `| row | idle connections | live bytes per connection | ratio | target | × ${FLOOR} |`,
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| ${RAW} | ${connections} + ${connections} | ${fmt(raw, 0)} | reference | | |`,
    ];
    for (const { row, target } of IDLE_ROWS) {
      const bytes = bytesPerConnection[row];
      if (bytes === undefined) continue;
      const value = bytes / raw;
      const overFloor = floor === undefined || row === FLOOR ? '' : `${fmt(bytes / floor)}×`;
      lines.push(
        `| ${row} | ${connections} + ${connections} | ${fmt(bytes, 0)} | ${fmt(value)}× ${RAW} | ${
          target === undefined ? '' : `≤ ${target}×`
        } | ${overFloor} |`,
      );
      const text = `- ${row}: live bytes per idle connection (${connections} more beside ${connections}) ${fmt(value)}× ${RAW}`;
      verdicts.idle.push(
        target === undefined
          ? `${text} (for information)`
          : `${text} (target ≤ ${target}×): ${verdict(value, target)}`,
      );
    }
    tables.idle = lines.join('\n');
  }

  if (results.busy) {
    const { idle, rows } = results.busy;
    const lines = [
      '| row | idle beside | round trips/s alone | beside idle | rate vs alone | target | server CPU | client CPU |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const entry of rows) {
      const target = BUSY_ROWS.find((b) => b.row === entry.row)?.target;
      const value = entry.crowded / entry.alone;
      lines.push(
        `| ${entry.row} | ${idle} | ${fmt(entry.alone, 0)} | ${fmt(entry.crowded, 0)} | ${fmt(
          value,
        )}× | ${target === undefined ? '' : `≥ ${target}×`} | ${cores(entry.serverCores)} | ${cores(
          entry.clientCores,
        )} |`,
      );
      const text = `- ${entry.row}: one busy connection beside ${idle} idle at ${fmt(value)}× its rate alone`;
      verdicts.busy.push(
        target === undefined
          ? `${text} (for information)`
          : `${text} (target ≥ ${target}×): ${verdict(value, target, false)}`,
      );
    }
    tables.busy = lines.join('\n');
  }

  const fair = fairness(results);
  if (fair) {
    tables.fairness = [
      '| row | connections | round trips median | min | min ÷ median | target | legacy half mean | modern half mean | halves ratio | target |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${FAIRNESS.row} | ${fair.connections} | ${fair.median} | ${fair.min} | ${fmt(
        fair.minOfMedian,
      )} | ≥ ${FAIRNESS.minOfMedian} | ${fmt(fair.legacyMean, 1)} | ${fmt(
        fair.modernMean,
        1,
      )} | ${fmt(fair.halves)}× | ≤ ${FAIRNESS.halves}× |`,
    ].join('\n');
    verdicts.fairness.push(
      `- ${FAIRNESS.row} at ${fair.connections} connections: fewest round trips ${fmt(
        fair.minOfMedian,
      )}× the median (target ≥ ${FAIRNESS.minOfMedian}×): ${verdict(
        fair.minOfMedian,
        FAIRNESS.minOfMedian,
        false,
      )}`,
      `- ${FAIRNESS.row} at ${fair.connections} connections: the halves (legacy ${fmt(
        fair.legacyMean,
        1,
      )}, modern ${fmt(fair.modernMean, 1)} round trips each) ${fmt(
        fair.halves,
      )}× apart (target ≤ ${FAIRNESS.halves}×): ${verdict(fair.halves, FAIRNESS.halves)}`,
    );
  }
  for (const failure of results.failures) {
    verdicts[failure.section].push(`- ${failure.what}: FAILED (${failure.error})`);
  }
  if (measured) {
    verdicts.scale.push(
      unsaturated.length === 0
        ? `- saturation: every server under test and its raw net used ≥ ${SATURATED} core in their segments (scale, PROXY header and diagnostics rows): the load client was not the limit`
        : `- saturation: below ${SATURATED} core (the client or the machine may have been the limit: read these ratios with care): ${unsaturated.join('; ')}`,
    );
  }
  const sections: Partial<Record<Section, { table: string; verdicts: string[] }>> = {};
  for (const section of SECTIONS) {
    if (
      (tables[section] !== '' && tables[section].split('\n').length > 2) ||
      verdicts[section].length > 0
    ) {
      sections[section] = { table: tables[section], verdicts: verdicts[section] };
    }
  }
  return sections;
}
