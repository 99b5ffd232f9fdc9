import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import { loopbackServer } from '../helpers/peers.js';
import { StreamReader } from '../../src/modern/reader.js';
import { observeWire, unobserveWire, wireSocket } from '../../src/modern/_wire.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { until } from '../helpers/chunkings.js';

/** An observer that records what the reader held each time it was told. */
function recorder(reader: StreamReader): {
  events: string[];
  transportEvent(): void;
  transportClose(): void;
} {
  const events: string[] = [];
  return {
    events,
    transportEvent: () => events.push(`event ${reader.bufferedLength} eof=${reader.atEof()}`),
    transportClose: () => events.push('close'),
  };
}

describe('Wire observer (observeWire)', () => {
  it('over loopback TCP, is told of data, end and close after the reader got them, with no listener of its own', async () => {
    const { server, port, accepted } = await loopbackServer();
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const peer = await accepted;
    const { reader } = wireSocket(socket, undefined);
    const listeners = ['data', 'end', 'close'].map((name) => socket.listenerCount(name));
    const observer = recorder(reader);
    expect(observeWire(socket, reader, observer)).to.equal(true);
    expect(['data', 'end', 'close'].map((name) => socket.listenerCount(name))).to.deep.equal(
      listeners,
    );
    peer.write('abc');
    await until(() => observer.events.length > 0);
    peer.end();
    await once(socket, 'close');
    expect(observer.events[0]).to.equal('event 3 eof=false');
    expect(observer.events.slice(-2)).to.deep.equal(['event 3 eof=false', 'close']);
    server.close();
    await once(server, 'close');
  });

  it('takes one observer per wire, only for the reader the wire feeds, and unobserveWire() frees the place', () => {
    const [a, b] = duplexPair();
    const { reader } = wireSocket(a, undefined);
    const first = recorder(reader);
    const second = recorder(reader);
    expect(observeWire(a, new StreamReader(), first)).to.equal(false);
    expect(observeWire(b, reader, first)).to.equal(false);
    expect(observeWire(a, reader, first)).to.equal(true);
    expect(observeWire(a, reader, second)).to.equal(false);
    // Only the observer itself removes itself.
    unobserveWire(a, second);
    expect(observeWire(a, reader, second)).to.equal(false);
    unobserveWire(a, first);
    expect(observeWire(a, reader, second)).to.equal(true);
    b.on('error', () => {});
    a.end();
    b.end();
  });
});
