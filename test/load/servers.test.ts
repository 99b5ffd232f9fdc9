// The short version of `npm run soak`: every server style under concurrent ping-pong and
// connect/close cycles, over loopback, with fds, handles, maps and listeners back to their
// starting level afterwards.
import { expect } from 'chai';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { until } from '../helpers/chunkings.js';
import {
  STYLES,
  connectCloseCycles,
  openFds,
  pingPong,
  processListeners,
  startStyle,
  type SoakServer,
} from '../../soak/servers.js';

describe('Load (short version of npm run soak)', function () {
  let server: SoakServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const style of STYLES) {
    describe(`${style} server`, () => {
      it('answers 200 concurrent connections, 3 messages each (1 in 10 of 20 KB), every reply correct and none lost', async () => {
        server = await startStyle(style);
        const result = await pingPong(server.port, { connections: 200, messages: 3 });
        expect(result).to.deep.equal({ replies: 600, wrong: 0, lost: 0, peak: 200 });
        await until(() => server!.tracked() === 0);
      });

      it('100 connect/close cycles leave fds, handles, maps and listeners where they started', async () => {
        server = await startStyle(style);
        // Warm up once (lazy module state, first-connection allocations), then measure.
        expect(await connectCloseCycles(server.port, { cycles: 5 })).to.equal(5);
        await until(() => server!.tracked() === 0);
        const fds = await openFds();
        const resources = activeResources();
        const listeners = server.listeners();
        const onProcess = processListeners();

        expect(await connectCloseCycles(server.port, { cycles: 100, parallel: 10 })).to.equal(100);

        await until(() => server!.tracked() === 0);
        await expectNoLeaks(resources);
        expect(server.listeners(), 'listeners on the server').to.equal(listeners);
        expect(processListeners(), 'listeners on process').to.equal(onProcess);
        // Closed sockets release their fds in the same turn as their handles.
        expect(await openFds(), 'open fds').to.equal(fds);
      });
    });
  }
});
