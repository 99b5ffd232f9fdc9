import { expect } from 'chai';
import { LimitOverrunError } from '../../src/errors.js';
import { kFail } from '../../src/legacy/_handlers.js';
import { Incoming, type IncomingSink } from '../../src/legacy/_incoming.js';
import { chunkings } from '../helpers/chunkings.js';

/** Records what the framing hands over: data pieces, `|` for each terminator, overruns. */
class Sink implements IncomingSink {
  closed = false;
  events: string[] = [];
  overruns: LimitOverrunError[] = [];
  /** Closes the sink when an overrun is reported (as the default handleError() does). */
  closeOnOverrun = false;
  readonly incoming: Incoming;
  constructor(
    readonly maxIncoming: number,
    terminator: Buffer | number | null,
  ) {
    this.incoming = new Incoming(this);
    this.incoming.setTerminator(terminator);
  }
  [kFail](error: unknown): void {
    expect(error).to.be.instanceOf(LimitOverrunError);
    this.overruns.push(error as LimitOverrunError);
    this.events.push('!');
    if (this.closeOnOverrun) this.closed = true;
  }
  collectIncomingData(data: Buffer): void {
    if (data.length === 0) throw new Error('collectIncomingData() got an empty chunk');
    this.events.push(data.toString('latin1'));
  }
  foundTerminator(): void {
    this.events.push('|');
  }
  /** The messages: what was collected between terminators, joined. */
  text(): string {
    return this.events.join('');
  }
}

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('Incoming (internal: AsyncChat input framing)', () => {
  it('over every split into up to 4 chunks: the over-long message is dropped, the rest intact', () => {
    const input = b('ab\r\nTOO-LONG-LINE\r\ncd\r\n\r\nef\r\n');
    let splits = 0;
    for (const chunks of chunkings(input, { maxParts: 4 })) {
      const sink = new Sink(8, b('\r\n'));
      for (const chunk of chunks) sink.incoming.feed(chunk);
      sink.incoming.atEof();
      expect(sink.text(), chunks.map((c) => c.toString()).join('/')).to.equal('ab|!cd||ef|');
      expect(sink.overruns).to.have.length(1);
      expect(sink.overruns[0]!.consumed).to.be.above(8);
      splits++;
    }
    expect(splits).to.be.greaterThan(100);
  });

  it('a message of exactly maxIncoming bytes is not an overrun, one byte more is', () => {
    const sink = new Sink(4, b('\n'));
    sink.incoming.feed(b('abcd\nabcde\nz\n'));
    expect(sink.text()).to.equal('abcd|!z|');
    expect(sink.overruns[0]!.message).to.equal(
      'Cannot collect incoming data: 5 bytes without a terminator exceed maxIncoming (4)',
    );
  });

  it('stops at once when the overrun report closes the chat', () => {
    const sink = new Sink(4, b('\n'));
    sink.closeOnOverrun = true;
    sink.incoming.feed(b('ok\ntoo long\nnext\n'));
    expect(sink.text()).to.equal('ok|!');
  });

  it('at end-of-stream: held bytes go out, but not the tail of an over-long message', () => {
    const held = new Sink(8, b('\r\n'));
    held.incoming.feed(b('abc\r'));
    held.incoming.atEof();
    expect(held.text()).to.equal('abc\r');
    const dropped = new Sink(8, b('\r\n'));
    dropped.incoming.feed(b('0123456789\r'));
    dropped.incoming.atEof();
    expect(dropped.text()).to.equal('!');
  });

  it('a new terminator while bytes are held: they go out before the next input', () => {
    const sink = new Sink(1024, b('\n'));
    sink.incoming.feed(b('head'));
    expect(sink.text()).to.equal('');
    sink.incoming.setTerminator(null);
    sink.incoming.feed(b('tail'));
    expect(sink.events).to.deep.equal(['head', 'tail']);
  });

  it('discard() drops held bytes and ends a discarding overrun', () => {
    const sink = new Sink(4, b('\n'));
    sink.incoming.feed(b('abc'));
    sink.incoming.discard();
    sink.incoming.feed(b('de\n'));
    expect(sink.text()).to.equal('de|');
    sink.incoming.feed(b('toolong'));
    sink.incoming.discard();
    sink.incoming.feed(b('fg\n'));
    expect(sink.text()).to.equal('de|!fg|');
  });

  it('a numeric terminator hands over full blocks as they fill, then the rest and the terminator', () => {
    const sink = new Sink(16, 40_000);
    for (let i = 0; i < 20_000; i++) sink.incoming.feed(b('x'));
    // 16 KiB went out as one piece; the rest waits in the block being filled.
    expect(sink.events.map((e) => e.length)).to.deep.equal([16_384]);
    for (let i = 0; i < 20_000; i++) sink.incoming.feed(b('y'));
    expect(sink.events.at(-1)).to.equal('|');
    expect(sink.events.slice(0, -1).join('')).to.equal('x'.repeat(20_000) + 'y'.repeat(20_000));
    expect(sink.incoming.terminator).to.equal(0);
  });

  it('maxIncoming Infinity: a long line goes out in blocks as it fills, never an overrun', () => {
    const sink = new Sink(Infinity, b('\n'));
    for (let i = 0; i < 40_000; i++) sink.incoming.feed(b('x'));
    expect(sink.events.map((e) => e.length)).to.deep.equal([16_384, 16_384]);
    sink.incoming.feed(b('\n'));
    expect(sink.events.at(-1)).to.equal('|');
    expect(sink.overruns).to.deep.equal([]);
  });
});
