import { expect } from 'chai';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import * as library from '../../src/index.js';
import type { Address } from '../../src/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { eventually } from './_support.js';

const guide = await readFile(new URL('../../migration-guide/README.md', import.meta.url), 'utf8');
const exports = library as Record<string, unknown>;

/** The rows of the concept map tables: [python, ours, equivalent, differs]. */
function conceptRows(): string[][] {
  const start = guide.indexOf('## The concept map');
  const end = guide.indexOf('## Migrating a server step by step');
  return guide
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| Python') && !/^\|-/.test(line))
    .map((line) =>
      line
        .replaceAll('\\|', '\u0000') // an escaped "|" inside a cell
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim().replaceAll('\u0000', '|')),
    );
}

/** The code spans of a table cell. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
}

// Names in the "ours" column that are JavaScript or Node, not this library.
const PLATFORM = new Set([
  'for',
  'setTimeout',
  'Promise',
  'main',
  'using',
  'AbortSignal',
  'signal',
  'node',
  'worker_threads',
]);

/** Instances to look up fields (own properties) on, per exported class. */
function instanceOf(name: string): object | undefined {
  switch (name) {
    case 'Dispatcher':
      return new library.Dispatcher({ map: new library.SocketMap() });
    case 'AsyncChat':
      return new library.AsyncChat({ map: new library.SocketMap() });
    case 'DispatcherWithSend':
      return new library.DispatcherWithSend({ map: new library.SocketMap() });
    case 'StreamReader':
      return new library.StreamReader();
    case 'Queue':
      return new library.Queue();
    case 'TaskGroup':
      return new library.TaskGroup();
    default:
      return undefined;
  }
}

function hasMember(className: string, member: string): boolean {
  const value = exports[className];
  if (typeof value !== 'function') return false;
  const prototype = (value as { prototype: object }).prototype;
  if (member in prototype || member in value) return true;
  const instance = instanceOf(className);
  return instance !== undefined && member in instance;
}

describe('migration-guide/README.md concept map', () => {
  const rows = conceptRows();

  it('has a row for every asyncore, asynchat and asyncio streams name it promises', () => {
    const python = rows.map((row) => row[0] ?? '').join('\n');
    for (const name of [
      'asyncore.loop',
      'asyncore.socket_map',
      'asyncore.dispatcher_with_send',
      'handle_read()',
      'handle_write()',
      'handle_close()',
      'handle_error()',
      'handle_accepted',
      'readable()',
      'writable()',
      "set_terminator(b'\\r\\n')",
      'set_terminator(None)',
      'push(data)',
      'push_with_producer',
      'close_when_done()',
      'StreamReader.readexactly(n)',
      'StreamReader.readuntil',
      'StreamReader.readline()',
      'StreamWriter.drain()',
      'asyncio.wait_for',
      'asyncio.TaskGroup',
      'put_nowait',
      'asyncio.CancelledError',
      // what a port of a real asyncore/asynchat program runs into
      'addr` of an accepted or connected dispatcher (the **peer**',
      'socket.getpeername()',
      'self.server',
      'use_encoding',
      '`incoming`, `_collect_incoming_data()`, `_get_data()`',
      'producer_fifo',
      'ac_in_buffer',
      'find_prefix_at_end',
      'handle_read_event()',
      'dispatcher.debug',
      'out_buffer',
      'poll3',
      '`read(obj)`, `write(obj)`',
      'asyncore.errorcode',
    ]) {
      expect(python, name).to.include(name);
    }
    expect(rows.length).to.be.above(80);
  });

  it('names only exports and members that exist (the "ours" column)', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const row of rows) {
      for (const span of codeSpans(row[1] ?? '')) {
        const match = /^(?:new |await )?([A-Za-z_$][\w$]*)(?:\.([A-Za-z_$][\w$]*))?/.exec(span);
        if (match === null) continue; // an option object, an event name
        const [, head = '', member] = match;
        if (PLATFORM.has(head)) continue;
        checked++;
        if (!(head in exports)) missing.push(`${span}: no export \`${head}\``);
        else if (member !== undefined && !hasMember(head, member)) {
          missing.push(`${span}: \`${head}\` has no \`${member}\``);
        }
      }
    }
    expect(missing).to.deep.equal([]);
    expect(checked).to.be.above(100);
  });

  it('uses only reader/writer/server members that exist, anywhere in the guide', async () => {
    const pitfalls = await readFile(
      new URL('../../migration-guide/pitfalls.md', import.meta.url),
      'utf8',
    );
    const owners = {
      reader: library.StreamReader,
      writer: library.StreamWriter,
      server: library.Server,
    } as const;
    const missing: string[] = [];
    for (const text of [guide, pitfalls]) {
      for (const span of codeSpans(text)) {
        for (const [, owner, member] of span.matchAll(/\b(reader|writer|server)\.(\w+)/g)) {
          const prototype = owners[owner as keyof typeof owners].prototype as object;
          if (!((member ?? '') in prototype)) missing.push(`${owner}.${member ?? ''}`);
        }
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('summarises the step-by-step migration and links to its page', () => {
    const section = guide.slice(guide.indexOf('## Migrating a server step by step\n'));
    expect(section).to.match(/^## Migrating a server step by step\n/);
    expect(section).to.include('](step-by-step.md)');
    expect(guide).not.to.match(/\(coming\)|\nComing:/);
  });

  describe('the rows a port of a real program depends on', () => {
    /** A dispatcher that ignores what it is not asked to do, without logging. */
    class Quiet extends library.Dispatcher {
      override logInfo(): void {}
    }

    it('addr: handleAccepted() gets the peer; address() is the local end, the server port', async () => {
      const map = new library.SocketMap();
      let peer: Address | undefined;
      const accepted: Quiet[] = [];
      class Listener extends Quiet {
        override handleAccepted(socket: Duplex, address: Address): void {
          peer = address;
          accepted.push(new Quiet({ socket, map: this.map }));
        }
      }
      const listener = new Listener({ map });
      listener.bind({ host: '127.0.0.1', port: 0 });
      await listener.listen();
      const done = library.loop({ map });
      const { port } = listener.address() as { port: number };
      const client = net.connect({ host: '127.0.0.1', port });
      try {
        await once(client, 'connect');
        await eventually(() => accepted.length === 1);
        expect(client.localPort).to.not.equal(port);
        expect(peer).to.include({ host: '127.0.0.1', port: client.localPort });
        expect((accepted[0]?.socket as net.Socket).remotePort).to.equal(client.localPort);
        expect(accepted[0]?.address()).to.include({ host: '127.0.0.1', port }); // the local end
      } finally {
        client.destroy();
        map.closeAll();
        await done;
      }
    });

    it('self.server: a `server` field clashes with Dispatcher.server (and hides the listener)', () => {
      class Handler extends Quiet {
        // @ts-expect-error TS2610: `server` is an accessor of Dispatcher (the listening net.Server)
        server = 'the chat room';
      }
      class Renamed extends Quiet {
        owner = 'the chat room'; // the guide's advice: any other name
      }
      const map = new library.SocketMap();
      expect(new Handler({ map }).server).to.equal('the chat room'); // the getter is shadowed
      expect(new Renamed({ map }).server).to.equal(null); // not listening: no net.Server
      expect(new Renamed({ map }).owner).to.equal('the chat room');
    });

    it('encoding: strings are UTF-8 (asynchat used latin-1); latin-1 is bytes you pass', async () => {
      const map = new library.SocketMap();
      const [peer, socket] = duplexPair();
      class Chat extends library.AsyncChat {
        override collectIncomingData(): void {}
        override foundTerminator(): void {}
        override logInfo(): void {}
      }
      const chat = new Chat({ socket, map });
      const received: Buffer[] = [];
      peer.on('data', (data: Buffer) => received.push(data));
      chat.push('é');
      chat.push(Buffer.from('é', 'latin1'));
      chat.closeWhenDone();
      await Promise.all([library.loop({ map }), once(peer, 'end')]);
      expect(Buffer.concat(received)).to.deep.equal(Buffer.from([0xc3, 0xa9, 0xe9]));
      peer.destroy();
    });

    it('loop({ count }) resolves while a listener stays open: the process would go on; closeAll() ends it', async () => {
      const map = new library.SocketMap();
      const listener = new Quiet({ map });
      listener.bind({ host: '127.0.0.1', port: 0 });
      await listener.listen();
      try {
        await library.loop({ map, count: 2, timeout: 1 });
        expect(map.size).to.equal(1);
        expect(listener.accepting).to.equal(true);
        expect(process.getActiveResourcesInfo()).to.include('TCPServerWrap'); // keeps Node alive
      } finally {
        library.closeAll(map);
      }
      expect(map.size).to.equal(0);
    });
  });
});
