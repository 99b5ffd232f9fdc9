// The `dispatch-bridge` command as the published package runs it: the compiled CLI (dist/cli)
// started by bin/dispatch-bridge.mjs, with only the runtime dependencies installed (the package
// also ships src/ for its source maps, but the command must not need it, nor ts-node). This lays
// out such a package in a temporary directory and runs it. Then the published types: the
// declarations `npm run build` emits, compiled by a strict consumer.
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

interface Manifest {
  version: string;
  dependencies?: Record<string, string>;
}
const manifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

/** Links `name` and, recursively, its own dependencies from the project's node_modules. */
function linkRuntimeDependency(name: string, into: string): void {
  const target = path.join(into, name);
  try {
    mkdirSync(path.dirname(target), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', name), target, 'dir');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  const dependencies = manifest(path.join(root, 'node_modules', name)).dependencies ?? {};
  for (const dependency of Object.keys(dependencies)) linkRuntimeDependency(dependency, into);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('cli: the published package', function () {
  this.timeout(60_000);
  let pkg: string;

  before(async () => {
    pkg = mkdtempSync(path.join(os.tmpdir(), 'dispatch-bridge-package-'));
    await run(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.cli.json',
        '--outDir',
        path.join(pkg, 'dist'),
      ],
      { cwd: root },
    );
    cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    cpSync(path.join(root, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    for (const name of Object.keys(manifest(root).dependencies ?? {})) {
      linkRuntimeDependency(name, path.join(pkg, 'node_modules'));
    }
  });

  after(() => {
    rmSync(pkg, { recursive: true, force: true });
  });

  it('runs without any TypeScript source or dev dependency', () => {
    const files = listFiles(pkg).filter((file) => !file.startsWith('node_modules'));
    expect(files).to.include(path.join('dist', 'cli', 'main.js'));
    expect(files.filter((file) => file.endsWith('.ts'))).to.deep.equal([]);
    expect(readdirSync(path.join(pkg, 'node_modules'))).to.not.include('ts-node');
  });

  it('ships source maps that carry their sources (the .ts files are not in the package)', () => {
    const maps = listFiles(path.join(pkg, 'dist')).filter((file) => file.endsWith('.js.map'));
    expect(maps).to.include(path.join('cli', 'main.js.map'));
    for (const file of maps) {
      const map = JSON.parse(readFileSync(path.join(pkg, 'dist', file), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent, file).to.have.length(map.sources.length);
      const empty = (map.sourcesContent ?? []).filter((text) => !text);
      expect(empty, file).to.deep.equal([]);
    }
  });

  it('--version prints the version of package.json', async () => {
    const { stdout } = await run(process.execPath, [
      path.join(pkg, 'bin/dispatch-bridge.mjs'),
      '--version',
    ]);
    expect(stdout.trim()).to.equal(manifest(root).version);
  });

  it('demo --quick runs every style from the compiled CLI and exits 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [path.join(pkg, 'bin/dispatch-bridge.mjs'), 'demo', '--quick'],
      {
        cwd: os.tmpdir(),
      },
    );
    for (const style of ['legacy', 'modern', 'mixed']) {
      expect(stdout).to.match(new RegExp(`^${style} +\\| ✔`, 'm'));
    }
  });

  /** Starts the packaged command; resolves its output so far and its exit. */
  function start(args: string[]) {
    const child = spawn(process.execPath, [path.join(pkg, 'bin/dispatch-bridge.mjs'), ...args], {
      cwd: os.tmpdir(),
      // Under `npm run coverage` (c8) the child would write a V8 coverage profile as it exits,
      // which widens the moment where Node has already dropped its signal handlers; its coverage
      // (the compiled copy in a temporary directory) is not counted anyway.
      env: { ...process.env, NODE_V8_COVERAGE: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { out: '', err: '' };
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output.out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output.err += text));
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])),
    );
    const until = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (let i = 0; i < 2_000; i++) {
        const match = pattern.exec(output.out);
        if (match !== null) return match;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`No ${String(pattern)} in: ${output.out}${output.err}`);
    };
    return { child, output, exited, until };
  }

  it('a bare `dispatch-bridge` runs the demo; Ctrl+C interrupts it and exits 130, not by signal', async () => {
    const { child, output, exited, until } = start([]);
    try {
      await until(/^legacy: load 32 connections/m);
      expect(output.out).to.match(/^legacy: scripted client on 127\.0\.0\.1:\d+$/m);
      child.kill('SIGINT');
      expect(await exited).to.deep.equal([130, null]);
      expect(output.err).to.equal('dispatch-bridge: demo interrupted\n');
      expect(output.out).to.not.include('messages/s');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serve under load: a storm of Ctrl+C (one every 2 ms until it is gone) still exits 0', async () => {
    // The first SIGINT closes the server; the others land while it closes, after it closed and
    // while the process ends (where Node's teardown would die of a SIGINT): all must exit 0.
    const { child, exited, until } = start(['serve', '--example', 'echo', '--port', '0']);
    const sockets: net.Socket[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      const port = Number((await until(/listening on 127\.0\.0\.1:(\d+)/))[1]);
      const flood = Buffer.alloc(64 * 1024, 'x');
      for (let i = 0; i < 20; i++) {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        socket.pause(); // reads nothing: the server's replies queue up
        socket.on('connect', () => {
          const pump = (): void => {
            while (socket.writable && socket.write(flood));
          };
          pump();
          socket.on('drain', pump);
        });
        sockets.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      let signals = 0;
      timer = setInterval(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        signals++;
        child.kill('SIGINT');
      }, 2);
      expect(await exited).to.deep.equal([0, null]);
      expect(signals).to.be.above(1);
    } finally {
      clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      child.kill('SIGKILL');
    }
  });

  it('says what to do when the compiled CLI is missing', async () => {
    rmSync(path.join(pkg, 'dist', 'cli'), { recursive: true });
    const failure = (await run(process.execPath, [
      path.join(pkg, 'bin/dispatch-bridge.mjs'),
      '--help',
    ]).then(
      () => expect.fail('the command should have failed'),
      (error: unknown) => error,
    )) as { code: number; stderr: string };
    expect(failure.code).to.equal(1);
    expect(failure.stderr).to.match(/dist[/\\]cli[/\\]main\.js is missing; run `npm run build`/);
  });
});

describe('the published type declarations', function () {
  this.timeout(60_000);
  let pkg: string;

  before(async () => {
    pkg = mkdtempSync(path.join(os.tmpdir(), 'dispatch-bridge-types-'));
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    await run(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', path.join(pkg, 'dist')],
      {
        cwd: root,
      },
    );
    cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    for (const name of Object.keys(manifest(root).dependencies ?? {})) {
      linkRuntimeDependency(name, path.join(pkg, 'node_modules'));
    }
  });

  after(() => {
    rmSync(pkg, { recursive: true, force: true });
  });

  it('hold no internal symbol member ([kReady], [kAdd], …) in a public class', () => {
    const declarations = listFiles(path.join(pkg, 'dist')).filter(
      (file) => file.endsWith('.d.ts') && !path.basename(file).startsWith('_'),
    );
    expect(declarations).to.include(path.join('src', 'legacy', 'dispatcher.d.ts'));
    const found: string[] = [];
    for (const file of declarations) {
      const text = readFileSync(path.join(pkg, 'dist', file), 'utf8');
      for (const [member] of text.matchAll(/\[k[A-Z]\w*\]/g)) found.push(`${file}: ${member}`);
    }
    expect(found).to.deep.equal([]);
  });

  it('compile in a strict ESM consumer (module nodenext, skipLibCheck off) that subclasses the classes', async () => {
    const consumer = path.join(pkg, 'consumer');
    mkdirSync(consumer);
    writeFileSync(
      path.join(consumer, 'main.ts'),
      [
        "import type { Duplex } from 'node:stream';",
        "import { AsyncChat, Dispatcher, SocketMap, loop } from 'dispatch-bridge/legacy';",
        "import { startServer, type StreamHandler } from 'dispatch-bridge/modern';",
        "import { asStreamHandler } from 'dispatch-bridge/adapter';",
        'class Chat extends AsyncChat {',
        '  override collectIncomingData(_data: Buffer): void {}',
        '  override foundTerminator(): void {}',
        '}',
        'class Listener extends Dispatcher {',
        '  override handleAccepted(socket: Duplex): void {',
        '    new Chat({ socket, map: this.map });',
        '  }',
        '}',
        'const map = new SocketMap();',
        'new Listener({ map });',
        'await loop({ map, count: 1 });',
        'const echo: StreamHandler = async (reader, writer) => writer.write(await reader.read());',
        'await startServer(asStreamHandler(Chat), { port: 0 }).then((server) => server.close());',
        'void echo;',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          target: 'es2022',
          lib: ['es2022'],
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules/@types')],
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['main.ts'],
      }),
    );
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', consumer]).then(
      () => 'compiled',
      (error: { stdout?: string; message?: string }) => error.stdout ?? error.message,
    );
    expect(result).to.equal('compiled');
  });
});
