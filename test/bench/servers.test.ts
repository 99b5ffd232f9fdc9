// Every benchmark row must be a correct echo server, or its numbers mean nothing. This runs each
// row briefly, in-process, with the same load client the benchmark uses.
import { expect } from 'chai';
import { bulk, pingPong } from '../../bench/load.js';
import { channelNames, serverRows } from '../../bench/servers.js';

describe('bench servers', () => {
  for (const [name, row] of Object.entries(serverRows)) {
    it(`${name}: echoes every ping-pong line and a bulk stream intact`, async () => {
      const server = await row.start();
      try {
        const { proxyHeader } = row;
        const pp = await pingPong({
          port: server.port,
          connections: 4,
          messages: 25,
          size: 64,
          proxyHeader,
        });
        expect(pp.messages).to.equal(100);
        expect(pp.mismatches).to.equal(0);
        const bk = await bulk({
          port: server.port,
          bytes: 1024 * 1024,
          chunkSize: 64 * 1024,
          proxyHeader,
        });
        expect(bk.bytes).to.equal(1024 * 1024);
        expect(bk.mismatches).to.equal(0);
        if (name.endsWith(' observed')) {
          // Five connections, each opened and closed: the subscriber saw at least that.
          expect(server.channelMessages?.()).to.be.at.least(5);
        }
      } finally {
        await server.close();
      }
    });
  }

  it('the observed rows subscribe to every dispatch-bridge:* channel', () => {
    expect(channelNames).to.include.members([
      'dispatch-bridge:connection:open',
      'dispatch-bridge:connection:close',
      'dispatch-bridge:handler:error',
      'dispatch-bridge:route',
      'dispatch-bridge:shadow:divergence',
      'dispatch-bridge:shadow:drop',
      'dispatch-bridge:slow-handler',
    ]);
    expect(channelNames.every((name) => name.startsWith('dispatch-bridge:'))).to.equal(true);
  });

  it('every compared row names an existing reference', () => {
    for (const [name, row] of Object.entries(serverRows)) {
      if (row.reference !== undefined) {
        expect(serverRows, `${name}.reference`).to.have.property(row.reference);
      }
    }
  });
});
