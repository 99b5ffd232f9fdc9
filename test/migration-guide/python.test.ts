import { expect } from 'chai';
import { Store } from '../../migration-guide/examples/steps/_kv.js';
import { start as startCanary } from '../../migration-guide/examples/steps/python-canary.js';
import { start as startShadow } from '../../migration-guide/examples/steps/python-shadow.js';
import { LONG_TRANSCRIPT, expected, smallClient, tooLongClient } from './_kv-script.js';
import { pythonProblem, startPython, type PythonServer } from './_python.js';
import { TestClient, eventually } from './_support.js';

const ORIGINALS = ['kv_asyncore.py', 'kv_asyncio.py'] as const;
const PORTS = ['legacy', 'modern'] as const;

/** The small clients of the steps' script (whole and chunked writes) and the too-long one. */
async function script(port: number, prefix: string): Promise<string[][]> {
  const clients: TestClient[] = [];
  try {
    for (const chunkSize of [Infinity, 3, 7]) {
      clients.push(await TestClient.connect(port, { chunkSize }));
    }
    const long = await TestClient.connect(port, { chunkSize: 100 });
    clients.push(long);
    return await Promise.all([
      ...clients.slice(0, 3).map((client, i) => smallClient(client, `${prefix}${i}:`)),
      tooLongClient(long),
    ]);
  } finally {
    for (const client of clients) client.destroy();
  }
}

const expectedScript = (prefix: string): string[][] => [
  expected(`${prefix}0:`),
  expected(`${prefix}1:`),
  expected(`${prefix}2:`),
  LONG_TRANSCRIPT,
];

async function withPython<T>(file: string, body: (python: PythonServer) => Promise<T>): Promise<T> {
  const python = await startPython(file);
  try {
    return await body(python);
  } finally {
    await python.close();
  }
}

describe('migration-guide/python: the Python originals of the kv server', function () {
  this.timeout(30_000);

  it('python3 is there, with asyncore and asynchat (Python 3.11)', () => {
    expect(pythonProblem()).to.equal(undefined);
  });

  for (const file of ORIGINALS) {
    it(`${file} answers the steps' client script with the steps' transcripts`, async () => {
      await withPython(file, async (python) => {
        expect(await script(python.port, 'p')).to.deep.equal(expectedScript('p'));
        expect(python.stderr()).to.equal('');
      });
    });
  }

  describe('the first step: the mixed server in front of the Python server', () => {
    for (const file of ORIGINALS) {
      for (const typescript of PORTS) {
        it(`${file} primary, the ${typescript} TypeScript port as shadow: identical transcripts, nothing diverges`, async () => {
          await withPython(file, async (python) => {
            const logged: string[] = [];
            const server = await startShadow({
              upstream: python.address,
              typescript,
              log: (line) => logged.push(line),
            });
            try {
              expect(await script(server.port, 's')).to.deep.equal(expectedScript('s'));
              await eventually(() => server.settled());
              expect(server.divergences).to.deep.equal([]);
              expect(server.dropped).to.deep.equal([]);
              expect(logged).to.deep.equal([]);
              expect(server.routed()).to.deep.equal({ python: 4, typescript: 0 });
              // The shadow did run: the TypeScript port served a copy of every connection.
              const stats = server.stats();
              expect(stats[typescript]).to.equal(4);
              expect(stats.errors).to.deep.equal([]);
            } finally {
              await server.close();
            }
          });
        });
      }
    }

    it('reports a planted divergence: where, both sides, which implementation; clients still get Python', async () => {
      // A port whose INCR counts by two: the kind of bug the shadow run is there to find.
      class FaultyStore extends Store {
        override incr(key: string): number | undefined {
          super.incr(key);
          return super.incr(key);
        }
      }
      await withPython('kv_asyncore.py', async (python) => {
        const logged: string[] = [];
        const server = await startShadow({
          upstream: python.address,
          store: new FaultyStore(),
          log: (line) => logged.push(line),
        });
        try {
          const client = await TestClient.connect(server.port);
          try {
            expect(await smallClient(client, 'f:')).to.deep.equal(expected('f:'));
          } finally {
            client.destroy();
          }
          await eventually(() => server.settled());
          expect(server.divergences).to.have.length(1);
          const [report] = server.divergences;
          const offset = 'OK\nVALUE hello world\nNOT_FOUND\nINTEGER '.length;
          expect(report?.offset).to.equal(offset);
          expect(report?.primaryImplementation).to.equal('modern'); // Python's slot
          expect(report?.start).to.equal(offset - 32); // 32 bytes of equal context
          expect(report?.primary.toString()).to.equal(
            'OK\nVALUE hello world\nNOT_FOUND\nINTEGER 1\nINTEGER 2\nERROR not an integer\nOK\nKEYS 3\n'.slice(
              offset - 32,
              offset + 32,
            ),
          );
          expect(report?.shadow.toString()).to.match(/INTEGER 2\nINTEGER 4\n/);
          expect(logged).to.deep.equal([
            `kv: connection ${report?.id} diverges at byte ${offset}: python sent ` +
              `${JSON.stringify(report?.primary.toString())}, typescript ` +
              `${JSON.stringify(report?.shadow.toString())} (both from byte ${offset - 32})`,
          ]);
        } finally {
          await server.close();
        }
      });
    });

    for (const file of ORIGINALS) {
      it(`a canary splits connections between ${file} and the TypeScript port, deterministically`, async () => {
        await withPython(file, async (python) => {
          const store = new Store();
          const server = await startCanary({ upstream: python.address, share: 0.5, store });
          const transcripts: string[][] = [];
          try {
            // One connection after the other, so that the canary sees them in this order:
            // 1 and 3 to Python, 2 and 4 to the TypeScript port (share 0.5 alternates).
            for (const prefix of ['c1:', 'c2:', 'c3:', 'c4:']) {
              const client = await TestClient.connect(server.port, { chunkSize: 5 });
              try {
                transcripts.push(await smallClient(client, prefix));
              } finally {
                client.destroy();
              }
            }
            expect(transcripts).to.deep.equal(['c1:', 'c2:', 'c3:', 'c4:'].map(expected));
            await eventually(() => server.connections() === 0);
            expect(server.routed()).to.deep.equal({ python: 2, typescript: 2 });
            expect(server.stats().errors).to.deep.equal([]);
            // Each side holds the data of the clients it served, and only theirs.
            expect(store.keys('c')).to.deep.equal(['c2:b', 'c2:n', 'c4:b', 'c4:n']);
            const direct = await TestClient.connect(python.port);
            try {
              await direct.send('KEYS c\nQUIT\n');
              const reply = (await direct.end()).toString();
              expect(reply).to.equal('KEYS 4\nc1:b\nc1:n\nc3:b\nc3:n\nBYE\n');
            } finally {
              direct.destroy();
            }
          } finally {
            await server.close();
          }
        });
      });
    }
  });
});
