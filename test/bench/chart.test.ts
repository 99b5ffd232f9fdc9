import { expect } from 'chai';
import { renderChart } from '../../bench/chart.js';

describe('renderChart() (benchmark chart)', () => {
  const svg = renderChart({
    title: 'Server CPU per message',
    unit: 'µs',
    reference: 10,
    bars: [
      { name: 'raw net', value: 10 },
      { name: 'legacy <AsyncChat>', value: 20, ratio: 2 },
      { name: 'modern', value: 11, ratio: 1.1 },
    ],
  });

  it('draws one bar per row, scaled to the largest value', () => {
    const widths = [...svg.matchAll(/<rect x="170" y="\d+" width="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(widths).to.deep.equal([210, 420, 231]);
  });

  it('labels each bar with its value and ratio, escaping the names', () => {
    expect(svg).to.contain('legacy &lt;AsyncChat&gt;');
    expect(svg).to.contain('20.0 µs (2.00×)');
    expect(svg).to.contain('11.0 µs (1.10×)');
  });

  it('colours bars by their ratio and marks the reference with a line', () => {
    expect(svg).to.match(/width="420.0" height="18" fill="#e67e22"/);
    expect(svg).to.match(/width="231.0" height="18" fill="#2e86c1"/);
    expect(svg).to.match(/<line x1="380.0"/);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
  });
});
