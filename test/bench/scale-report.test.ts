// The scale part's tables and verdicts (bench/scale-report.ts) from made-up figures: every target
// is checked against the right reference, in the right direction, and the saturation line names
// the rows whose server was not near one core.
import { expect } from 'chai';
import {
  FAIRNESS,
  FLOOR,
  FULL,
  PROXY_GROUPS,
  QUICK,
  SCALE_GROUPS,
  fairness,
  figures,
  ratio,
  renderScale,
  segmentPlan,
  type ClientResult,
  type GroupResult,
  type ScaleResults,
  type Segment,
} from '../../bench/scale-report.js';

function client(overrides: Partial<ClientResult> = {}): ClientResult {
  return {
    messages: 10_000,
    elapsedMs: 1_000,
    cpuMs: 300,
    mismatches: 0,
    min: 8,
    median: 10,
    evenMin: 8,
    evenMedian: 10,
    evenMean: 10,
    oddMin: 8,
    oddMedian: 10,
    oddMean: 10,
    ...overrides,
  };
}

/** Two segments whose server used `cpuMs` each for 10,000 round trips in 1 s. */
const segments = (cpuMs: number, overrides: Partial<ClientResult> = {}): Segment[] => [
  { client: client(overrides), serverCpuMs: cpuMs },
  { client: client(overrides), serverCpuMs: cpuMs },
];

describe('bench scale report', () => {
  const chat: GroupResult = {
    group: SCALE_GROUPS[0]!,
    connections: 200,
    segments: { 'legacy AsyncChat': segments(1_100), 'raw net': segments(1_000) },
  };
  const signal: GroupResult = {
    group: SCALE_GROUPS.find((g) => g.servers[0] === 'modern readLine signal')!,
    connections: 200,
    segments: {
      'modern readLine signal': segments(950),
      'modern readLine': segments(900),
      'raw net': segments(600),
    },
  };
  const mixed: GroupResult = {
    group: SCALE_GROUPS.find((g) => g.servers[0] === FAIRNESS.row)!,
    connections: 200,
    segments: {
      [FAIRNESS.row]: [
        { client: client({ min: 4, median: 10, evenMean: 6, oddMean: 12 }), serverCpuMs: 950 },
        { client: client({ min: 6, median: 10, evenMean: 9, oddMean: 10 }), serverCpuMs: 950 },
      ],
      'raw net': segments(900),
    },
  };
  const results: ScaleResults = {
    config: QUICK,
    groups: [chat, signal, mixed],
    failures: [{ what: 'mixed observed at 50 connections', section: 'diagnostics', error: 'boom' }],
    idle: {
      connections: 200,
      bytesPerConnection: { 'raw net': 5_000, 'legacy AsyncChat': 6_000, mixed: 8_000 },
    },
    busy: {
      idle: 200,
      rows: [
        { row: 'raw net', alone: 1_000, crowded: 990, serverCores: 0.5, clientCores: 0.2 },
        { row: 'legacy AsyncChat', alone: 1_000, crowded: 700, serverCores: 0.5, clientCores: 0.2 },
        { row: 'modern readLine', alone: 1_000, crowded: 950, serverCores: 0.5, clientCores: 0.2 },
      ],
    },
  };
  const sections = renderScale(results);

  it('computes CPU per message, cores and ratios from the segments', () => {
    const own = figures(chat.segments['legacy AsyncChat']!);
    expect(own.cpuPerMessage).to.be.closeTo(110, 1e-9);
    expect(own.serverCores).to.be.closeTo(1.1, 1e-9);
    expect(own.clientCores).to.be.closeTo(0.3, 1e-9);
    expect(ratio(chat, 'legacy AsyncChat', 'raw net')).to.be.closeTo(1.1, 1e-9);
  });

  it('takes the median of the palindromes’ ratios, so that one disturbed palindrome does not move it', () => {
    const palindromes = (...cpuMs: number[]): Segment[] => cpuMs.flatMap((ms) => segments(ms));
    const three: GroupResult = {
      group: signal.group,
      connections: 200,
      segments: {
        // The second palindrome of the row was disturbed (2× its CPU).
        'modern readLine signal': palindromes(1_000, 2_000, 1_020),
        'modern readLine': palindromes(1_000, 1_000, 1_000),
        'raw net': palindromes(500, 500, 500),
      },
    };
    expect(signal.group.palindromes).to.equal(3);
    expect(ratio(three, 'modern readLine signal', 'modern readLine')).to.be.closeTo(1.02, 1e-9);
    expect(ratio(three, 'modern readLine', 'raw net')).to.be.closeTo(2, 1e-9);
    // An even count: the mean of the middle two.
    const two: GroupResult = {
      ...three,
      segments: { a: palindromes(1_000, 1_200), b: palindromes(1_000, 1_000) },
    };
    expect(ratio(two, 'a', 'b')).to.be.closeTo(1.1, 1e-9);
  });

  it('runs the ≤ 1.05× groups in many short segments up to 1,000 connections, long ones above', () => {
    const tight = signal.group;
    expect(segmentPlan(tight, 1_000, FULL)).to.deep.equal({ segmentMs: 500, palindromes: 12 });
    expect(segmentPlan(PROXY_GROUPS[0]!, 1_000, FULL)).to.deep.equal({
      segmentMs: 500,
      palindromes: 12,
    });
    expect(segmentPlan(tight, 10_000, FULL)).to.deep.equal({ segmentMs: 2_000, palindromes: 3 });
    // A group without a tight target: the config's segments, one palindrome, at every scale.
    expect(segmentPlan(chat.group, 1_000, FULL)).to.deep.equal({
      segmentMs: 2_000,
      palindromes: 1,
    });
    // --quick: its fine segments at its smaller scale (50), its own segments at the larger.
    expect(segmentPlan(tight, 50, QUICK)).to.deep.equal({ segmentMs: 100, palindromes: 3 });
    expect(segmentPlan(tight, 200, QUICK)).to.deep.equal({ segmentMs: 150, palindromes: 3 });
  });

  it('prints each target as met or MISSED against its own reference', () => {
    const scale = sections.scale!.verdicts.join('\n');
    expect(scale).to.include(
      '- legacy AsyncChat at 200 connections: server CPU per message 1.10× raw net (target ≤ 1.15×): met',
    );
    expect(scale).to.include(
      '- modern readLine signal at 200 connections: server CPU per message 1.06× modern readLine (target ≤ 1.05×): MISSED',
    );
    expect(scale).to.include(
      '- modern readLine signal at 200 connections: server CPU per message 1.58× raw net (for information)',
    );
    expect(sections.scale!.table).to.match(
      /^\| legacy AsyncChat \| 200 \| 10000 \| 110\.00 \| 1\.10× raw net \| ≤ 1\.15× \| 1\.10 core \| 1\.00 core \| 0\.30 core \| 8 \/ 10 \| yes \|$/m,
    );
  });

  it('names the measurements whose server was not saturated', () => {
    // raw net beside the signal row used 0.6 core.
    const line = sections.scale!.verdicts.find((v) => v.startsWith('- saturation:'))!;
    expect(line).to.include('modern readLine signal at 200');
    expect(line).to.not.include('legacy AsyncChat at 200');
    expect(sections.scale!.table).to.match(/^\| modern readLine signal \| 200 \|.*\| no \|$/m);
  });

  it('checks idle memory and busy-beside-idle in the right direction', () => {
    expect(sections.idle!.table).to.include(
      '| legacy AsyncChat | 200 + 200 | 6000 | 1.20× raw net | ≤ 1.25× |  |',
    );
    expect(sections.idle!.verdicts).to.deep.equal([
      '- legacy AsyncChat: live bytes per idle connection (200 more beside 200) 1.20× raw net (target ≤ 1.25×): met',
      '- mixed: live bytes per idle connection (200 more beside 200) 1.60× raw net (target ≤ 1.5×): MISSED',
    ]);
    expect(sections.busy!.verdicts).to.deep.equal([
      '- raw net: one busy connection beside 200 idle at 0.99× its rate alone (for information)',
      '- legacy AsyncChat: one busy connection beside 200 idle at 0.70× its rate alone (target ≥ 0.8×): MISSED',
      '- modern readLine: one busy connection beside 200 idle at 0.95× its rate alone (target ≥ 0.8×): met',
    ]);
  });

  it('prints the async floor for information, and each idle row over it', () => {
    const floored = renderScale({
      ...results,
      idle: {
        connections: 200,
        bytesPerConnection: { 'raw net': 1_000, [FLOOR]: 2_000, 'modern readLine': 2_500 },
      },
    });
    expect(floored.idle!.table).to.include(`| ${FLOOR} | 200 + 200 | 2000 | 2.00× raw net |  |  |`);
    expect(floored.idle!.table).to.include(
      '| modern readLine | 200 + 200 | 2500 | 2.50× raw net | ≤ 1.25× | 1.25× |',
    );
    expect(floored.idle!.verdicts).to.deep.equal([
      `- ${FLOOR}: live bytes per idle connection (200 more beside 200) 2.00× raw net (for information)`,
      '- modern readLine: live bytes per idle connection (200 more beside 200) 2.50× raw net (target ≤ 1.25×): MISSED',
    ]);
  });

  it('measures modern readLine beside the async floor, against raw net and the floor', () => {
    const group = SCALE_GROUPS.find((g) => g.servers[0] === 'modern readLine')!;
    expect(group.servers).to.have.members(['modern readLine', 'raw net', FLOOR]);
    const scale = renderScale({
      config: QUICK,
      groups: [
        {
          group,
          connections: 200,
          segments: {
            'modern readLine': segments(1_200),
            'raw net': segments(1_000),
            [FLOOR]: segments(1_100),
          },
        },
      ],
      failures: [],
    }).scale!.verdicts;
    expect(scale).to.include.members([
      '- modern readLine at 200 connections: server CPU per message 1.20× raw net (target ≤ 1.15×): MISSED',
      `- modern readLine at 200 connections: server CPU per message 1.09× ${FLOOR} (for information)`,
      `- ${FLOOR} at 200 connections: server CPU per message 1.10× raw net (for information)`,
    ]);
  });

  it('reports the mixed server fairness of its worst segment at the largest scale', () => {
    const fair = fairness(results)!;
    expect(fair.connections).to.equal(200);
    expect(fair.minOfMedian).to.be.closeTo(0.4, 1e-9);
    expect(fair.halves).to.be.closeTo(2, 1e-9);
    expect(fair.legacyMean).to.equal(6);
    expect(fair.modernMean).to.equal(12);
    expect(sections.fairness!.verdicts).to.deep.equal([
      '- mixed halves at 200 connections: fewest round trips 0.40× the median (target ≥ 0.5×): MISSED',
      '- mixed halves at 200 connections: the halves (legacy 6.0, modern 12.0 round trips each) 2.00× apart (target ≤ 1.3×): MISSED',
    ]);
  });

  it('prints a failed measurement as FAILED, and leaves out the sections not measured', () => {
    expect(sections.diagnostics!.verdicts).to.deep.equal([
      '- mixed observed at 50 connections: FAILED (boom)',
    ]);
    expect(Object.keys(sections).sort()).to.deep.equal([
      'busy',
      'diagnostics',
      'fairness',
      'idle',
      'scale',
    ]);
  });
});
