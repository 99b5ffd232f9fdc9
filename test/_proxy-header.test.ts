import { expect } from 'chai';
import fc from 'fast-check';

import {
  crc32c,
  encodeProxyHeader,
  parseProxyHeader,
  PP2_TYPE,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  ProxyProtocolError,
  type ProxyHeader,
  type ProxyHeaderFields,
} from '../src/_proxy-header.js';
import type { Address } from '../src/address.js';

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

function parseError(
  data: Buffer,
  options: Parameters<typeof parseProxyHeader>[1] = {},
): ProxyProtocolError {
  try {
    parseProxyHeader(data, options);
  } catch (error) {
    expect(error).to.be.instanceOf(ProxyProtocolError);
    expect((error as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_HEADER');
    return error as ProxyProtocolError;
  }
  throw new Error(`Expected ${JSON.stringify(data.toString('latin1'))} to be rejected`);
}

/** A v2 header from its parts (for malformed ones the encoder refuses to make). */
function v2(verCmd: number, famProto: number, body: Buffer | number[] = []): Buffer {
  const rest = Buffer.from(body);
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = famProto;
  fixed.writeUInt16BE(rest.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, fixed, rest]);
}

const ipv4 = {
  source: { host: '203.0.113.7', port: 51000 },
  destination: { host: '10.0.0.1', port: 7000 },
};

describe('parseProxyHeader() v1', () => {
  it('parses TCP4 with the addresses, ports and length, leaving the payload', () => {
    const data = ascii('PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\nHELO\r\n');
    const header = parseProxyHeader(data, { version: 'v1' })!;
    expect(header).to.deep.equal({
      version: 1,
      command: 'PROXY',
      family: 'IPv4',
      transport: 'stream',
      source: { host: '203.0.113.7', port: 51000, family: 'IPv4' },
      destination: { host: '10.0.0.1', port: 7000, family: 'IPv4' },
      tlvs: new Map(),
      length: 44,
    });
    expect(data.subarray(header.length).toString()).to.equal('HELO\r\n');
  });

  it('parses TCP6 into canonical text, and IPv4-mapped addresses into IPv4', () => {
    const header = parseProxyHeader(
      ascii('PROXY TCP6 2001:DB8:0:0::1 ::ffff:10.0.0.1 0 65535\r\n'),
    )!;
    expect(header.family).to.equal('IPv6');
    expect(header.source).to.deep.equal({ host: '2001:db8::1', port: 0, family: 'IPv6' });
    expect(header.destination).to.deep.equal({ host: '10.0.0.1', port: 65535, family: 'IPv4' });
  });

  it('accepts UNKNOWN, short or with ignored fields, as relayed with unknown addresses', () => {
    const worst = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
    expect(worst).to.have.length(PROXY_V1_MAX_LENGTH);
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN whatever follows\r\n', worst]) {
      const header = parseProxyHeader(ascii(line))!;
      expect(header).to.include({
        command: 'PROXY',
        family: 'unspec',
        transport: 'unspec',
        length: line.length,
      });
      expect(header.source).to.equal(undefined);
      expect(header.destination).to.equal(undefined);
    }
  });

  it('returns null for every proper prefix of a valid line and the header for the whole', () => {
    const line = ascii('PROXY TCP6 ::1 fe80::2 1 2\r\n');
    for (let n = 0; n < line.length; n++)
      expect(parseProxyHeader(line.subarray(0, n)), `${n}`).to.equal(null);
    expect(parseProxyHeader(line)?.length).to.equal(line.length);
  });

  it('rejects a line with no CRLF within 107 bytes, at the 107th byte', () => {
    const long = ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`);
    expect(parseProxyHeader(long.subarray(0, 106))).to.equal(null);
    expect(parseError(long.subarray(0, 107)).message).to.match(/no CRLF within 107 bytes/);
    // a CR at the 107th byte would make a 108-byte line
    expect(parseError(ascii(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`)).message).to.match(/107/);
  });

  it('rejects at once what is not a v1 line', () => {
    const cases: [string, RegExp][] = [
      ['GET / HTTP/1.1\r\n', /does not start with a PROXY v1 or v2 signature/],
      ['PROXX', /signature/],
      ['PROXY\r\n', /signature/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /LF instead of CRLF/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx', /CR not followed by LF/],
      ['PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n', /non-ASCII byte 0x09/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 \xe9\r\n', /non-ASCII byte 0xe9/],
      ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /TCP4, TCP6 or UNKNOWN, got "TCP5"/],
      ['PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /got ""/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /4 fields after the protocol, got 3/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /got 5/],
      ['PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', /got 5/],
      ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /source address is not a valid IPv4 address: "::1"/],
      ['PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n', /destination address .* "5.6.7.08"/],
      ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /source address is not a valid IPv6/],
      ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /not a valid IPv6/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /source port .* "65536"/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /source port .* "01"/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n', /destination port .* "-2"/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n', /destination port/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 999999\r\n', /destination port/],
    ];
    for (const [text, message] of cases)
      expect(parseError(ascii(text)).message, text).to.match(message);
  });

  it('refuses a v1 line when only v2 is accepted, and the reverse', () => {
    expect(parseError(ascii('PROXY UNKNOWN\r\n'), { version: 'v2' }).message).to.match(
      /expected a v2 header, got a v1 signature/,
    );
    expect(parseError(encodeProxyHeader({ version: 2 }), { version: 'v1' }).message).to.match(
      /expected a v1 header, got a v2 signature/,
    );
    expect(parseError(ascii('HELLO'), { version: 'v2' }).message).to.match(/PROXY v2 signature/);
  });
});

describe('parseProxyHeader() v2', () => {
  it('parses TCP over IPv4 and IPv6, and UDP', () => {
    const header = parseProxyHeader(encodeProxyHeader({ version: 2, ...ipv4 }))!;
    expect(header).to.deep.equal({
      version: 2,
      command: 'PROXY',
      family: 'IPv4',
      transport: 'stream',
      source: { host: '203.0.113.7', port: 51000, family: 'IPv4' },
      destination: { host: '10.0.0.1', port: 7000, family: 'IPv4' },
      tlvs: new Map(),
      length: 28,
    });
    const six = parseProxyHeader(
      encodeProxyHeader({
        version: 2,
        transport: 'dgram',
        source: { host: '2001:db8::7', port: 1 },
        destination: { host: '::ffff:192.0.2.1', port: 2 },
      }),
    )!;
    expect(six).to.include({ family: 'IPv6', transport: 'dgram', length: 52 });
    expect(six.source).to.deep.equal({ host: '2001:db8::7', port: 1, family: 'IPv6' });
    expect(six.destination).to.deep.equal({ host: '192.0.2.1', port: 2, family: 'IPv4' });
  });

  it('parses Unix addresses, abstract ones included', () => {
    const header = parseProxyHeader(
      encodeProxyHeader({
        version: 2,
        source: { path: '/run/client.sock' },
        destination: { path: '\0abstract' },
      }),
    )!;
    expect(header).to.include({ family: 'unix', length: 16 + 216 });
    expect(header.source).to.deep.equal({ path: '/run/client.sock' });
    expect(header.destination).to.deep.equal({ path: '\0abstract' });
    const full = Buffer.alloc(216, 0x61); // no NUL at all: the whole 108 bytes
    expect(parseProxyHeader(v2(0x21, 0x31, full))!.source).to.deep.equal({ path: 'a'.repeat(108) });
  });

  it('reports LOCAL, ignoring whatever address block and TLVs it has', () => {
    const plain = parseProxyHeader(encodeProxyHeader({ version: 2, command: 'LOCAL' }))!;
    expect(plain).to.deep.equal({
      version: 2,
      command: 'LOCAL',
      family: 'unspec',
      transport: 'unspec',
      tlvs: new Map(),
      length: 16,
    });
    // spec: the receiver must skip `len` bytes for LOCAL, not assume zero
    const withBlock = parseProxyHeader(
      Buffer.concat([v2(0x20, 0x11, [1, 2, 3, 4, 5]), ascii('payload')]),
    )!;
    expect(withBlock).to.include({ command: 'LOCAL', family: 'IPv4', length: 21 });
    expect(withBlock.source).to.equal(undefined);
  });

  it('parses UNSPEC as relayed with unknown addresses, skipping its bytes', () => {
    const header = parseProxyHeader(encodeProxyHeader({ version: 2, tlvs: [[0xe0, ascii('x')]] }))!;
    expect(header).to.include({
      command: 'PROXY',
      family: 'unspec',
      transport: 'unspec',
      length: 20,
    });
    expect(header.source).to.equal(undefined);
    expect(header.tlvs.get(0xe0)).to.deep.equal(ascii('x'));
  });

  it('parses TLVs into a map (the first of each type, as copies)', () => {
    const data = encodeProxyHeader({
      version: 2,
      ...ipv4,
      tlvs: [
        [PP2_TYPE.ALPN, ascii('h2')],
        [PP2_TYPE.AUTHORITY, ascii('example.org')],
        [PP2_TYPE.NOOP, Buffer.alloc(0)],
        [PP2_TYPE.ALPN, ascii('http/1.1')],
        [PP2_TYPE.UNIQUE_ID, Buffer.from([1, 2, 3])],
      ],
    });
    const header = parseProxyHeader(data)!;
    expect([...header.tlvs.keys()]).to.deep.equal([
      PP2_TYPE.ALPN,
      PP2_TYPE.AUTHORITY,
      PP2_TYPE.NOOP,
      PP2_TYPE.UNIQUE_ID,
    ]);
    expect(header.tlvs.get(PP2_TYPE.ALPN)!.toString()).to.equal('h2');
    expect(header.tlvs.get(PP2_TYPE.AUTHORITY)!.toString()).to.equal('example.org');
    expect(header.tlvs.get(PP2_TYPE.NOOP)).to.have.length(0);
    data.fill(0); // the values do not share memory with the input
    expect(header.tlvs.get(PP2_TYPE.AUTHORITY)!.toString()).to.equal('example.org');
  });

  it('verifies a CRC32C TLV and rejects a header whose checksum does not match', () => {
    const data = encodeProxyHeader({
      version: 2,
      ...ipv4,
      tlvs: [
        [PP2_TYPE.CRC32C, Buffer.alloc(4)],
        [0xe1, ascii('id')],
      ],
    });
    expect(parseProxyHeader(data)!.tlvs.get(PP2_TYPE.CRC32C)).to.have.length(4);
    const tampered = Buffer.from(data);
    tampered[16] = tampered[16]! ^ 1; // the source address
    expect(parseError(tampered).message).to.match(/CRC32C mismatch/);
    const short = encodeProxyHeader({
      version: 2,
      ...ipv4,
      tlvs: [[PP2_TYPE.CRC32C, Buffer.alloc(3)]],
    });
    expect(parseError(short).message).to.match(/CRC32C TLV must be 4 bytes, got 3/);
  });

  it('computes CRC-32C (RFC 3720 check value)', () => {
    expect(crc32c(ascii('123456789'))).to.equal(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).to.equal(0x8a9136aa);
  });

  it('returns null for every proper prefix of a header and the header for the whole', () => {
    const data = encodeProxyHeader({
      version: 2,
      ...ipv4,
      tlvs: [[PP2_TYPE.AUTHORITY, ascii('a.example')]],
    });
    for (let n = 0; n < data.length; n++)
      expect(parseProxyHeader(data.subarray(0, n)), `${n}`).to.equal(null);
    expect(parseProxyHeader(data)?.length).to.equal(data.length);
  });

  it('rejects malformed fixed bytes as soon as they arrive', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]), /signature/],
      [v2(0x11, 0x11).subarray(0, 13), /version must be 2, got 1/],
      [v2(0x22, 0x11).subarray(0, 13), /command must be LOCAL \(0\) or PROXY \(1\), got 2/],
      [v2(0x21, 0x41).subarray(0, 14), /address family 4 is unknown/],
      [v2(0x21, 0x13).subarray(0, 14), /transport protocol 3 is unknown/],
    ];
    for (const [data, message] of cases)
      expect(parseError(data).message, data.toString('hex')).to.match(message);
  });

  it('rejects a length over maxHeaderBytes from the 16 fixed bytes alone', () => {
    const fixed = v2(0x21, 0x11, Buffer.alloc(5000)).subarray(0, 16);
    expect(parseError(fixed).message).to.match(/5016 bytes is longer than maxHeaderBytes \(4096\)/);
    expect(parseProxyHeader(fixed, { maxHeaderBytes: 5016 })).to.equal(null);
    expect(parseError(fixed, { maxHeaderBytes: 5015 }).message).to.match(/5015/);
  });

  it('rejects an address block too short for its family and TLVs that do not fit', () => {
    expect(parseError(v2(0x21, 0x11, Buffer.alloc(11))).message).to.match(
      /IPv4 address block needs 12 bytes, the header has 11/,
    );
    expect(parseError(v2(0x21, 0x21, Buffer.alloc(12))).message).to.match(
      /IPv6 address block needs 36/,
    );
    expect(parseError(v2(0x21, 0x31, Buffer.alloc(215))).message).to.match(
      /unix address block needs 216/,
    );
    expect(parseError(v2(0x21, 0x11, [...Buffer.alloc(12), 0x01, 0x00])).message).to.match(
      /TLV at byte 28 is truncated/,
    );
    expect(
      parseError(v2(0x21, 0x11, [...Buffer.alloc(12), 0x02, 0x00, 0x05, 0x61])).message,
    ).to.match(/TLV 0x02 at byte 28 runs past the end/);
  });
});

// Random headers of both versions: what the encoder writes, the parser reads back, however much
// payload follows, and no proper prefix of it parses.
const port = fc.integer({ min: 0, max: 65535 });
const endpoint = (host: fc.Arbitrary<string>): fc.Arbitrary<Address> => fc.record({ host, port });
const addresses = fc.oneof(
  fc.record({ source: endpoint(fc.ipV4()), destination: endpoint(fc.ipV4()) }),
  fc.record({ source: endpoint(fc.ipV6()), destination: endpoint(fc.ipV6()) }),
  fc.constant({}),
);
const fields: fc.Arbitrary<ProxyHeaderFields> = fc.oneof(
  addresses.map((a) => ({ version: 1 as const, ...a })),
  fc
    .record({
      a: addresses,
      transport: fc.constantFrom('stream' as const, 'dgram' as const),
      tlvs: fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 255 }).filter((t) => t !== PP2_TYPE.CRC32C),
          fc.uint8Array({ maxLength: 40 }),
        ),
        {
          maxLength: 4,
        },
      ),
    })
    .map(({ a, transport, tlvs }) => ({ version: 2 as const, ...a, transport, tlvs })),
);

function expected(f: ProxyHeaderFields): Partial<ProxyHeader> {
  const norm = (a: Address): Address => {
    if ('path' in a) return a;
    const bytes = encodeProxyHeader({ version: 2, source: a, destination: a });
    return parseProxyHeader(bytes)!.source!;
  };
  return f.source === undefined
    ? {}
    : { source: norm(f.source), destination: norm(f.destination!) };
}

describe('parseProxyHeader() on random headers', () => {
  it('reads back what encodeProxyHeader() wrote, with any payload after it', () => {
    fc.assert(
      fc.property(fields, fc.uint8Array({ maxLength: 64 }), (f, payload) => {
        const bytes = encodeProxyHeader(f);
        const header = parseProxyHeader(Buffer.concat([bytes, payload]))!;
        expect(header.length).to.equal(bytes.length);
        expect(header.version).to.equal(f.version);
        expect(header.source).to.deep.equal(expected(f).source);
        expect(header.destination).to.deep.equal(expected(f).destination);
        if (f.version === 2) {
          const firsts = new Map<number, Buffer>();
          for (const [t, v] of f.tlvs ?? []) if (!firsts.has(t)) firsts.set(t, Buffer.from(v));
          expect(header.tlvs).to.deep.equal(firsts);
        }
        const cut = Math.floor(bytes.length / 2);
        expect(parseProxyHeader(bytes.subarray(0, cut))).to.equal(null);
      }),
    );
  });

  it('never throws anything but ProxyProtocolError on arbitrary bytes after a signature', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(ascii('PROXY '), PROXY_V2_SIGNATURE),
        fc.uint8Array({ maxLength: 300 }),
        (signature, rest) => {
          try {
            const header = parseProxyHeader(Buffer.concat([signature, rest]));
            if (header !== null)
              expect(header.length).to.be.at.most(signature.length + rest.length);
          } catch (error) {
            expect(error).to.be.instanceOf(ProxyProtocolError);
          }
        },
      ),
    );
  });
});

describe('encodeProxyHeader()', () => {
  it('writes v1 lines as HAProxy does', () => {
    expect(encodeProxyHeader({ version: 1, ...ipv4 }).toString()).to.equal(
      'PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\n',
    );
    expect(encodeProxyHeader({ version: 1 }).toString()).to.equal('PROXY UNKNOWN\r\n');
  });

  it('refuses what the version cannot carry', () => {
    const unix = { source: { path: '/a' }, destination: { path: '/b' } };
    expect(() => encodeProxyHeader({ version: 1, command: 'LOCAL' })).to.throw(RangeError, /LOCAL/);
    expect(() => encodeProxyHeader({ version: 1, ...unix })).to.throw(RangeError, /Unix/);
    expect(() => encodeProxyHeader({ version: 2, source: ipv4.source })).to.throw(
      RangeError,
      /both/,
    );
    expect(() =>
      encodeProxyHeader({ version: 2, source: ipv4.source, destination: { host: '::1', port: 1 } }),
    ).to.throw(RangeError, /one address family/);
    expect(() =>
      encodeProxyHeader({
        version: 2,
        source: { host: 'example.org', port: 1 },
        destination: ipv4.destination,
      }),
    ).to.throw(RangeError, /IP address/);
    expect(() =>
      encodeProxyHeader({
        version: 2,
        source: { ...ipv4.source, port: 70000 },
        destination: ipv4.destination,
      }),
    ).to.throw(RangeError, /port/);
    expect(() =>
      encodeProxyHeader({
        version: 2,
        source: { path: 'x'.repeat(109) },
        destination: { path: '/b' },
      }),
    ).to.throw(RangeError, /too long/);
    expect(() => encodeProxyHeader({ version: 2, tlvs: [[1, Buffer.alloc(0xfffd)]] })).to.throw(
      RangeError,
      /65551/,
    );
  });
});
