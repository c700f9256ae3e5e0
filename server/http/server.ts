// The listening HTTP server around the express app: Node's timeouts and parser errors, and a graceful close.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { ApiError } from '../errors.ts';
import { clientError } from './error-handler.ts';

export interface ServerOptions {
  /** A request must have arrived whole within this time (Node's requestTimeout; the client gets 408). */
  requestTimeoutMs: number;
}

/** How long an idle keep-alive connection stays open (longer than the usual 60 s of proxies and load balancers). */
const KEEP_ALIVE_MS = 72_000;

/** The API server: listen() on a host and port, close() to stop accepting, finish what is in flight and run the hooks. */
export class ApiServer {
  private http: Server | undefined;
  private closing: Promise<void> | undefined;
  private readonly hooks: (() => Promise<void>)[] = [];

  constructor(readonly app: Express, readonly log: Logger, private readonly opts: ServerOptions) {}

  /** The node:http server; throws before listen(). */
  get server(): Server {
    if (!this.http) throw new Error('the server is not listening: call listen() first');
    return this.http;
  }

  /** Runs after the server stopped and every request was answered (in the order added): save, close stores. */
  onClose(hook: () => Promise<void>): void {
    this.hooks.push(hook);
  }

  /** Middleware: once closing, a request arriving on a kept-alive connection is refused and the connection closed. */
  readonly admit = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.closing) {
      res.setHeader('connection', 'close');
      throw new ApiError('unavailable', 'the server is shutting down; retry on another instance or after restart');
    }
    next();
  };

  async listen(opts: { host: string; port: number }): Promise<AddressInfo> {
    if (this.http) throw new Error('the server is already listening');
    const server = createServer({
      requestTimeout: this.opts.requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
      // Node looks for overdue requests every 30 s by default, which would let a short timeout run 30 s over.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.round(this.opts.requestTimeoutMs / 4))),
    }, this.app);
    server.on('clientError', clientError);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.http = server;
    return server.address() as AddressInfo;
  }

  /** Stops accepting connections, waits for in-flight requests, then runs the close hooks. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.http;
    if (server) {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // A kept-alive connection becomes idle once its request is answered; close it then instead of waiting
      // for the client. Connections still busy after the request timeout are cut.
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      const force = setTimeout(() => server.closeAllConnections(), this.opts.requestTimeoutMs);
      try {
        await stopped;
      } finally {
        clearInterval(idle);
        clearTimeout(force);
      }
    }
    for (const hook of this.hooks) await hook();
  }
}
