// Child process of the proxy rows: a raw node:net echo standing in for the server that runs
// today in another process. It sends { type: 'ready', port } over IPC once listening and exits
// when its parent goes.
import net from 'node:net';
import process from 'node:process';

const server = net.createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as net.AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
