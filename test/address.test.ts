// `Address` (src/address.ts) is the one endpoint type of both layers, as DESIGN names it: the
// legacy, modern and root entry points export the same type, and both layers report addresses
// in that shape.
import { expect } from 'chai';
import type { Address } from '../src/index.js';
import { Dispatcher, SocketMap, type Address as LegacyAddress } from '../src/legacy/index.js';
import {
  startServer,
  type Address as ModernAddress,
  type StreamAddress,
} from '../src/modern/index.js';

// Exact type equality: `true` only when A and B are the same type.
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

describe('Address', () => {
  it('is one type across the root, legacy and modern entry points (StreamAddress is an alias)', () => {
    // These assignments do not compile if the types drift apart.
    const same: [
      Equal<Address, LegacyAddress>,
      Equal<Address, ModernAddress>,
      Equal<Address, StreamAddress>,
    ] = [true, true, true];
    expect(same).to.deep.equal([true, true, true]);
  });

  it('is what a legacy listener and a modern server report for the same kind of bind', async () => {
    const map = new SocketMap();
    const listener = new Dispatcher({ map });
    const server = await startServer(() => undefined, { host: '127.0.0.1', port: 0 });
    try {
      listener.bind({ host: '127.0.0.1', port: 0 });
      await listener.listen();
      const addresses: Address[] = [listener.address()!, server.address()];
      for (const address of addresses) {
        expect(address).to.include({ host: '127.0.0.1' });
        expect((address as { port: number }).port).to.be.above(0);
      }
    } finally {
      listener.close();
      await server.shutdown({ timeout: 1_000 });
    }
  });
});
