import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';

import {
  canonicalIPv6,
  compileTrustedProxies,
  DEFAULT_TRUSTED_PROXIES,
  ipv4Bytes,
  ipv4Text,
  ipv6Bytes,
  ipv6Text,
  normalizeAddress,
  unmapIPv4,
} from '../src/_cidr.js';

describe('compileTrustedProxies()', () => {
  it('trusts loopback (IPv4, IPv6 and IPv4-mapped) and Unix-socket peers by default', () => {
    const trusted = compileTrustedProxies(DEFAULT_TRUSTED_PROXIES);
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      expect(trusted.trusts({ host, port: 1 }), host).to.equal(true);
    }
    for (const host of [
      '10.0.0.1',
      '128.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      'fe80::1',
      'localhost',
    ]) {
      expect(trusted.trusts({ host, port: 1 }), host).to.equal(false);
    }
    expect(trusted.trusts({ path: '/tmp/x.sock' })).to.equal(true);
    expect(trusted.entries).to.deep.equal(DEFAULT_TRUSTED_PROXIES);
  });

  it('matches single addresses and CIDR ranges of both families', () => {
    const trusted = compileTrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '2001:db8::5']);
    expect(trusted.trusts({ host: '10.200.3.4', port: 0 })).to.equal(true);
    expect(trusted.trusts({ host: '11.0.0.1', port: 0 })).to.equal(false);
    expect(trusted.trusts({ host: '192.168.1.7', port: 0 })).to.equal(true);
    expect(trusted.trusts({ host: '192.168.1.8', port: 0 })).to.equal(false);
    expect(trusted.trusts({ host: 'fd12:3456::1', port: 0 })).to.equal(true);
    expect(trusted.trusts({ host: 'fe00::1', port: 0 })).to.equal(false);
    expect(trusted.trusts({ host: '2001:DB8:0::5', port: 0 })).to.equal(true);
    expect(trusted.trusts({ host: '2001:db8::5%eth0', port: 0 })).to.equal(true);
    // an IPv4-mapped peer is its IPv4 address
    expect(trusted.trusts({ host: '::ffff:10.1.2.3', port: 0 })).to.equal(true);
    expect(trusted.trusts({ path: '/run/app.sock' })).to.equal(false);
  });

  it("trusts every peer with ['0.0.0.0/0', '::/0'] and only Unix peers with ['unix']", () => {
    const all = compileTrustedProxies(['0.0.0.0/0', '::/0']);
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (host) => all.trusts({ host, port: 0 })));
    const unix = compileTrustedProxies(['unix']);
    expect(unix.trusts({ path: '/x' })).to.equal(true);
    expect(unix.trusts({ host: '127.0.0.1', port: 0 })).to.equal(false);
    expect(compileTrustedProxies([]).trusts({ host: '127.0.0.1', port: 0 })).to.equal(false);
  });

  it('agrees with a prefix comparison for random IPv4 ranges and addresses', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (net, bits, host) => {
        const toInt = (ip: string): number => ipv4Bytes(ip).readUInt32BE(0);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        const expected = ((toInt(net) ^ toInt(host)) & mask) >>> 0 === 0;
        expect(compileTrustedProxies([`${net}/${bits}`]).trusts({ host, port: 0 })).to.equal(
          expected,
        );
      }),
    );
  });

  it('names the offending entry in a TypeError or RangeError', () => {
    expect(() => compileTrustedProxies('127.0.0.1')).to.throw(TypeError, /`trustedProxies`/);
    expect(() => compileTrustedProxies(['127.0.0.1', 5])).to.throw(
      TypeError,
      /`trustedProxies\[1\]`/,
    );
    for (const bad of [
      'localhost',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/08',
      '10.0.0.0/x',
      'fe80::1%eth0',
      '*',
      '',
    ]) {
      expect(() => compileTrustedProxies(['::1', bad]), bad).to.throw(
        RangeError,
        /`trustedProxies\[1\]`/,
      );
    }
    expect(() => compileTrustedProxies([1], 'proxy.trusted')).to.throw(
      TypeError,
      /`proxy\.trusted\[0\]`/,
    );
  });
});

describe('normalizeAddress()', () => {
  it('turns IPv4-mapped IPv6 into IPv4, in any spelling', () => {
    for (const host of [
      '::ffff:127.0.0.1',
      '::FFFF:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:7f00:1',
    ]) {
      expect(normalizeAddress({ host, port: 80, family: 'IPv6' }), host).to.deep.equal({
        host: '127.0.0.1',
        port: 80,
        family: 'IPv4',
      });
    }
  });

  it('adds the family of IP hosts and leaves names and paths alone', () => {
    expect(normalizeAddress({ host: '10.0.0.1', port: 1 })).to.deep.equal({
      host: '10.0.0.1',
      port: 1,
      family: 'IPv4',
    });
    expect(normalizeAddress({ host: '::1', port: 2 })).to.deep.equal({
      host: '::1',
      port: 2,
      family: 'IPv6',
    });
    expect(normalizeAddress({ host: 'ffff::1', port: 2 })).to.deep.equal({
      host: 'ffff::1',
      port: 2,
      family: 'IPv6',
    });
    expect(normalizeAddress({ host: 'example.org', port: 3 })).to.deep.equal({
      host: 'example.org',
      port: 3,
    });
    expect(normalizeAddress({ path: '/tmp/s' })).to.deep.equal({ path: '/tmp/s' });
  });
});

describe('canonicalIPv6() and unmapIPv4()', () => {
  it('spells IPv6 as RFC 5952 does and rejects what is not IPv6', () => {
    expect(canonicalIPv6('2001:DB8:0:0:1:0:0:1')).to.equal('2001:db8::1:0:0:1');
    expect(canonicalIPv6('0:0:0:0:0:0:0:1')).to.equal('::1');
    expect(canonicalIPv6('::ffff:7f00:1')).to.equal('::ffff:127.0.0.1');
    expect(canonicalIPv6('127.0.0.1')).to.equal(null);
    expect(canonicalIPv6('1::2::3')).to.equal(null);
    expect(unmapIPv4('::ffff:10.0.0.1')).to.equal('10.0.0.1');
    expect(unmapIPv4('::1')).to.equal(null);
    expect(unmapIPv4('::ffff:1:2:3')).to.equal(null); // starts like one, is not one
    expect(unmapIPv4('10.0.0.1')).to.equal(null);
  });

  it("spells IPv6 as node:net's SocketAddress (inet_ntop) does, bar IPv4-compatible addresses", () => {
    fc.assert(
      fc.property(fc.ipV6(), (host) => {
        const bytes = ipv6Bytes(host);
        // inet_ntop writes the deprecated IPv4-compatible ::a.b.c.d form; RFC 5952 does not
        fc.pre(!bytes.subarray(0, 12).equals(Buffer.alloc(12)));
        expect(canonicalIPv6(host)).to.equal(
          new net.SocketAddress({ address: host, family: 'ipv6' }).address,
        );
      }),
      { numRuns: 300 },
    );
    expect(canonicalIPv6('::')).to.equal('::');
    expect(canonicalIPv6('::2')).to.equal('::2');
    expect(canonicalIPv6('1:0:0:2:0:0:0:3')).to.equal('1:0:0:2::3');
    expect(canonicalIPv6('1:0:0:2:0:0:3:4')).to.equal('1::2:0:0:3:4');
    expect(canonicalIPv6('1:0:2:3:4:5:6:7')).to.equal('1:0:2:3:4:5:6:7');
    expect(canonicalIPv6('fe80::1%eth0')).to.equal('fe80::1');
  });

  it('converts addresses to bytes and back without loss', () => {
    fc.assert(
      fc.property(fc.ipV6(), (host) => {
        const bytes = ipv6Bytes(host);
        expect(bytes).to.have.length(16);
        expect(ipv6Text(bytes)).to.equal(canonicalIPv6(host));
      }),
    );
    fc.assert(fc.property(fc.ipV4(), (host) => ipv4Text(ipv4Bytes(host)) === host));
  });
});
