import { expect } from 'chai';
import { Dispatcher, SocketMap } from '../../src/legacy/index.js';
import { validateAddress } from '../../src/legacy/_address.js';

describe('validateAddress() (internal: the addresses of bind() and connect())', () => {
  it('takes { host, port } and { path }; a missing host is every interface', () => {
    expect(validateAddress({ host: '127.0.0.1', port: 0 }, 'bind')).to.deep.equal({
      host: '127.0.0.1',
      port: 0,
    });
    expect(validateAddress({ port: 80 }, 'bind')).to.deep.equal({ host: '', port: 80 });
    expect(validateAddress({ host: undefined, port: 80 }, 'bind')).to.deep.equal({
      host: '',
      port: 80,
    });
    expect(validateAddress({ path: '/tmp/x.sock' }, 'connect')).to.deep.equal({
      path: '/tmp/x.sock',
    });
  });

  it('rejects a host that is not a string with a TypeError naming `host` (issue #11: it listened on every interface)', () => {
    for (const [host, shown] of [
      [123, '`123` (number)'],
      [null, '`null` (object)'],
      [['127.0.0.1'], '`Array` (object)'],
      [true, '`true` (boolean)'],
    ] as const) {
      expect(() => validateAddress({ host, port: 0 }, 'bind')).to.throw(
        TypeError,
        `Expected \`host\` of bind() to be a string, got ${shown}`,
      );
    }
  });

  it('legacy bind({ host: 123, port }) throws that TypeError and listens nowhere', () => {
    const map = new SocketMap();
    const dispatcher = new Dispatcher({ map });
    try {
      expect(() => dispatcher.bind({ host: 123 as unknown as string, port: 0 })).to.throw(
        TypeError,
        'Expected `host` of bind() to be a string, got `123` (number)',
      );
      expect(() => dispatcher.connect({ host: 1 as unknown as string, port: 1 })).to.throw(
        TypeError,
        'Expected `host` of connect() to be a string, got `1` (number)',
      );
      expect(dispatcher.address()).to.equal(null);
    } finally {
      dispatcher.close();
    }
    expect(map.size).to.equal(0);
  });
});
