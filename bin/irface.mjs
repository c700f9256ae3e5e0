#!/usr/bin/env node
// `irface` command: registers the TypeScript loader, then runs the CLI (server/cli.ts).
import { register } from 'tsx/esm/api';

register();
await import('../server/cli.ts');
