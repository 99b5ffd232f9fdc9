// Every benchmark row must be a correct echo server, or its numbers mean nothing. This runs each
// row briefly, in-process, with the same load client the benchmark uses.
import { expect } from 'chai';
import { bulk, pingPong } from '../../bench/load.js';
import { serverRows } from '../../bench/servers.js';

describe('bench servers', () => {
  for (const [name, row] of Object.entries(serverRows)) {
    it(`${name}: echoes every ping-pong line and a bulk stream intact`, async () => {
      const server = await row.start();
      try {
        const pp = await pingPong({ port: server.port, connections: 4, messages: 25, size: 64 });
        expect(pp.messages).to.equal(100);
        expect(pp.mismatches).to.equal(0);
        const bk = await bulk({ port: server.port, bytes: 1024 * 1024, chunkSize: 64 * 1024 });
        expect(bk.bytes).to.equal(1024 * 1024);
        expect(bk.mismatches).to.equal(0);
      } finally {
        await server.close();
      }
    });
  }

  it('every compared row names an existing reference', () => {
    for (const [name, row] of Object.entries(serverRows)) {
      if (row.reference !== undefined) {
        expect(serverRows, `${name}.reference`).to.have.property(row.reference);
      }
    }
  });
});
