import { expect } from 'chai';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  MAX_TIMER_MS,
  checkServerOptions,
  optionalMs,
  optionalPositive,
} from '../../src/_core/server-options.js';
import { DEFAULT_LINGER_TIMEOUT } from '../../src/_core/linger.js';
import { startServer } from '../../src/modern/index.js';
import { cert, key } from '../helpers/tls-fixtures.js';

describe('server options (one check for every server)', () => {
  it('gives the defaults: all interfaces, port 0, 10 s handshakes, 5 s lingering', () => {
    const limits = checkServerOptions({});
    expect(limits.hosts).to.deep.equal([undefined]);
    expect(limits.port).to.equal(0);
    expect(limits.handshakeTimeout).to.equal(DEFAULT_HANDSHAKE_TIMEOUT);
    expect(limits.lingerTimeout).to.equal(DEFAULT_LINGER_TIMEOUT);
    expect(limits.concurrency).to.equal(undefined);
  });

  it('takes several hosts, and keeps what it was given', () => {
    const limits = checkServerOptions({
      host: ['127.0.0.1', '::1', 'localhost'],
      port: 7000,
      backlog: 5,
      maxConnections: 10,
      concurrency: 2,
      idleTimeout: 0,
      lingerTimeout: 0,
      tls: { key, cert },
    });
    expect(limits.hosts).to.deep.equal(['127.0.0.1', '::1', 'localhost']);
    expect([limits.port, limits.backlog, limits.maxConnections, limits.concurrency]).to.deep.equal([
      7000, 5, 10, 2,
    ]);
    expect([limits.idleTimeout, limits.lingerTimeout]).to.deep.equal([0, 0]);
  });

  for (const backlog of [-1, Number.NaN, 1.5, 0]) {
    it(`refuses backlog ${String(backlog)} with a RangeError naming it`, () => {
      expect(() => checkServerOptions({ backlog })).to.throw(RangeError, '`backlog`');
    });
  }

  it('refuses options of the wrong type with a TypeError naming them', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ backlog: 'x' }, '`backlog`'],
      [{ host: [] }, '`host`'],
      [{ host: 123 }, '`host`'],
      [{ host: 'not a host!' }, '`host`'],
      [{ path: '' }, '`path`'],
      [{ tls: true }, '`tls`'],
      [{ tls: {} }, '`tls`'],
      [{ onError: 'log' }, '`onError`'],
      [{ concurrency: '2' }, '`concurrency`'],
    ];
    for (const [options, name] of bad) {
      expect(() => checkServerOptions(options), JSON.stringify(options)).to.throw(TypeError, name);
    }
    expect(() => checkServerOptions({ path: '/tmp/x', host: '::1' })).to.throw(TypeError, 'both');
  });

  it("refuses times Node's timers cannot hold, and ports out of range", () => {
    expect(() => checkServerOptions({ idleTimeout: 2 ** 31 })).to.throw(
      RangeError,
      '`idleTimeout`',
    );
    expect(() => checkServerOptions({ lingerTimeout: -1 })).to.throw(RangeError, '`lingerTimeout`');
    expect(() => checkServerOptions({ handshakeTimeout: 0 })).to.throw(
      RangeError,
      '`handshakeTimeout`',
    );
    expect(() => checkServerOptions({ port: 65536 })).to.throw(RangeError, '`port`');
    expect(optionalMs('x', MAX_TIMER_MS)).to.equal(MAX_TIMER_MS);
    expect(optionalMs('x', undefined)).to.equal(undefined);
    expect(optionalPositive('x', undefined)).to.equal(undefined);
    expect(() => optionalPositive('x', 0)).to.throw(RangeError, '`x`');
  });

  it('takes proxyProtocol with tls (the header is read before the handshake), bounded by handshakeTimeout', () => {
    const limits = checkServerOptions({
      tls: { key, cert },
      proxyProtocol: 'v2',
      trustedProxies: ['10.0.0.0/8'],
      handshakeTimeout: 3_000,
    });
    expect(limits.tls).to.deep.equal({ key, cert });
    expect(limits.proxy?.version).to.equal('v2');
    expect(limits.proxy?.timeout).to.equal(3_000);
    expect(limits.proxy?.trustedProxies).to.deep.equal(['10.0.0.0/8']);
  });

  it('refuses bad PROXY options with an error naming them', () => {
    expect(() => checkServerOptions({ proxyProtocol: 'v3' as never })).to.throw(
      RangeError,
      '`proxyProtocol`',
    );
    expect(() => checkServerOptions({ trustedProxies: ['127.0.0.1'] })).to.throw(
      TypeError,
      '`trustedProxies`',
    );
  });

  it('startServer() checks them before it listens: the client spelling `tls: true` is refused', async () => {
    const error = await startServer(() => undefined, { tls: true as never }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.contain('`tls`');
  });
});
