import { expect } from 'chai';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { restoreNodeEnd, runNodeEnd, takeNodeEnd } from '../../src/_core/node-end.js';
import { loopbackServer } from '../helpers/peers.js';

// A client socket (allowHalfOpen false: Node's 'end' listener matters) whose server ends at once.
async function endedByPeer(): Promise<{ client: net.Socket; close(): Promise<void> }> {
  const { server, port, accepted } = await loopbackServer();
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('connect', resolve));
  const socket = await accepted;
  socket.end();
  return {
    client,
    close: async () => {
      client.destroy();
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The code of a write made once the peer's FIN came and the socket ended its own side.
function writeAfterPeerEnd(client: net.Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    client.resume();
    client.on('end', () =>
      setImmediate(() =>
        client.write('x', (error) => resolve((error as NodeJS.ErrnoException | null)?.code)),
      ),
    );
  });
}

describe("Node's own 'end' listener (_core/node-end)", () => {
  it("takes a net.Socket's only 'end' listener, and gives the same one back", async () => {
    const peer = await endedByPeer();
    try {
      const [node] = peer.client.listeners('end');
      expect(takeNodeEnd(peer.client)).to.equal(true);
      expect(peer.client.listenerCount('end')).to.equal(0);
      const ours = (): void => undefined;
      peer.client.on('end', ours);
      restoreNodeEnd(peer.client);
      expect(peer.client.listeners('end')).to.deep.equal([node, ours]);
    } finally {
      await peer.close();
    }
  });

  it("leaves a socket with an 'end' listener of someone else's, and any other Duplex, alone", async () => {
    const peer = await endedByPeer();
    try {
      const theirs = (): void => undefined;
      peer.client.on('end', theirs);
      expect(takeNodeEnd(peer.client)).to.equal(false);
      expect(peer.client.listenerCount('end')).to.equal(2);
      peer.client.removeListener('end', theirs);
      peer.client.removeAllListeners('end');
      // Not Node's listener any more: not taken.
      peer.client.on('end', theirs);
      expect(takeNodeEnd(peer.client)).to.equal(false);
      expect(peer.client.listeners('end')).to.deep.equal([theirs]);
    } finally {
      await peer.close();
    }
    const duplex = new PassThrough();
    duplex.on('end', () => undefined);
    expect(takeNodeEnd(duplex)).to.equal(false);
    expect(duplex.listenerCount('end')).to.equal(1);
  });

  it("runNodeEnd() does Node's work: a socket that allows no half-open refuses writes after the peer's FIN with EPIPE", async () => {
    // Taken and run: what Node does by itself.
    const taken = await endedByPeer();
    try {
      expect(takeNodeEnd(taken.client)).to.equal(true);
      taken.client.on('end', function (this: net.Socket) {
        runNodeEnd(this);
      });
      expect(await writeAfterPeerEnd(taken.client)).to.equal('EPIPE');
    } finally {
      await taken.close();
    }
    // Taken and not run: the write fails otherwise, so the check above can fail.
    const dropped = await endedByPeer();
    try {
      expect(takeNodeEnd(dropped.client)).to.equal(true);
      expect(await writeAfterPeerEnd(dropped.client)).to.equal('ERR_STREAM_WRITE_AFTER_END');
    } finally {
      await dropped.close();
    }
  });
});
