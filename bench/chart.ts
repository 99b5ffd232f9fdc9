// Renders the benchmark's main result as a self-contained SVG bar chart: server CPU time per
// message for each row, with the reference row's value drawn as a line, so the cost of each style
// can be seen at a glance (the migration guide shows it).

/** One bar of the chart. */
export interface ChartBar {
  name: string;
  /** Server CPU time per message, in microseconds. */
  value: number;
  /** The bar's value divided by the reference's, when it has a reference. */
  ratio?: number;
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * An SVG chart of `bars` (in order, one horizontal bar each), scaled to the largest value, with a
 * dashed line at `reference` (the raw `node:net` value) when given.
 */
export function renderChart(options: {
  title: string;
  bars: ChartBar[];
  reference?: number;
  unit: string;
}): string {
  const { title, bars, reference, unit } = options;
  const labelWidth = 170;
  const barArea = 420;
  const valueWidth = 150;
  const rowHeight = 26;
  const top = 44;
  const width = labelWidth + barArea + valueWidth;
  const height = top + bars.length * rowHeight + 30;
  const max = Math.max(reference ?? 0, ...bars.map((bar) => bar.value)) || 1;
  const x = (value: number): number => labelWidth + (value / max) * barArea;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="24" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  bars.forEach((bar, index) => {
    const y = top + index * rowHeight;
    const fill = bar.ratio === undefined ? '#7f8c8d' : bar.ratio <= 1.25 ? '#2e86c1' : '#e67e22';
    const label = `${bar.value.toFixed(1)} ${unit}${bar.ratio === undefined ? '' : ` (${bar.ratio.toFixed(2)}×)`}`;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end">${escape(bar.name)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${(x(bar.value) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${fill}"/>`,
      `<text x="${(x(bar.value) + 6).toFixed(1)}" y="${y + 17}">${escape(label)}</text>`,
    );
  });
  if (reference !== undefined) {
    const rx = x(reference).toFixed(1);
    const bottom = top + bars.length * rowHeight;
    parts.push(
      `<line x1="${rx}" y1="${top - 4}" x2="${rx}" y2="${bottom + 4}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
      `<text x="${rx}" y="${bottom + 20}" text-anchor="middle" fill="#c0392b">raw node:net</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
