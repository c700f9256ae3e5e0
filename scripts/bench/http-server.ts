// Child process of the HTTP benchmark: the real server (buildServer) from IRFACE_* variables; prints its port.
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../server/config.ts';
import { buildServer } from '../../server/compose.ts';

const config = parseConfig();
const { app } = await buildServer(config, { logger: false });
await app.listen({ host: config.host, port: config.port });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as AddressInfo).port })}\n`);

const stop = () => {
  app.close().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent closing our stdin (or dying) stops the server too, so no orphan keeps the port and the CPU.
process.stdin.on('end', stop);
process.stdin.resume();
