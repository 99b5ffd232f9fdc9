// RESULTS.md and the cost page are updated block by block: a run replaces what it measured only.
import { expect } from 'chai';
import { RESULTS_TEMPLATE, blockNames, replaceBlocks } from '../../bench/results-file.js';
import { fdWrapper } from '../../bench/scale.js';

describe('bench results file', () => {
  it('replaces the blocks it is given and keeps the others', () => {
    const page =
      'a\n<!-- bench:x -->\nold x\n<!-- /bench:x -->\nb\n<!-- bench:y -->\nold y\n<!-- /bench:y -->\n';
    const next = replaceBlocks(page, { x: 'new x\nline 2', z: 'ignored' });
    expect(next).to.equal(
      'a\n<!-- bench:x -->\nnew x\nline 2\n<!-- /bench:x -->\nb\n<!-- bench:y -->\nold y\n<!-- /bench:y -->\n',
    );
  });

  it('has a block in the template for every part of the bench', () => {
    expect(blockNames(RESULTS_TEMPLATE)).to.deep.equal([
      'header',
      'main',
      'scale-work',
      'scale',
      'proxy',
      'diagnostics',
      'idle',
      'busy',
      'fairness',
      'events',
    ]);
  });
});

describe('bench open-file limits', () => {
  it('starts children as they are when the soft limit suffices', () => {
    expect(fdWrapper(10_256, { soft: 20_000, hard: 20_000 })).to.deep.equal({ prefix: [] });
  });

  it('raises the soft limit through sh when only the hard limit suffices', () => {
    const wrapper = fdWrapper(10_256, { soft: 1_024, hard: 20_000 });
    expect(wrapper.execPath).to.equal('/bin/sh');
    expect(wrapper.prefix).to.deep.equal(['-c', 'ulimit -n 10256 && exec "$0" "$@"']);
  });

  it('says what to do when the hard limit is too low', () => {
    expect(() => fdWrapper(10_256, { soft: 1_024, hard: 4_096 })).to.throw(
      /need 10256 open files per process, but the hard limit \(ulimit -Hn\) is 4096: raise it/,
    );
  });
});
