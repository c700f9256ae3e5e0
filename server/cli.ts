// The `irface` command line: serve, enroll, search, reindex, export, import.
import { parseArgs } from 'node:util';
import { enrollCommand } from './cli/enroll.ts';
import { searchCommand } from './cli/search.ts';
import { reindexCommand } from './cli/reindex.ts';
import { exportCommand, importCommand } from './cli/transfer.ts';
import { keysCommand } from './cli/keys.ts';
import { migrateStoreCommand } from './cli/migrate-store.ts';

const USAGE = `usage: irface <command> [options]
  serve                          start the HTTP server (same as npm start)
  enroll <folder> [--largest]    enroll a folder per person (name = folder); reruns skip enrolled images
  search <image> [--k N]         search the gallery for every face in an image
  reindex [--drop-faces-without-crop]
                                 re-embed stored crops with the configured model (IRFACE_MODEL)
  export <file>                  write the whole gallery (gzipped JSON lines)
  import <file>                  restore an export (identities keep their ids; present ones are skipped)
  migrate-store <postgres://…|folder>
                                 copy the gallery into an empty PostgreSQL database or SQLite folder (counts checked)
  keys create --scope admin|recognize [--name N] | keys list | keys revoke <id>
                                 API keys (only hashes are stored)
Configuration comes from IRFACE_* environment variables (see README).`;

async function run(argv: string[]): Promise<unknown> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      largest: { type: 'boolean', default: false },
      k: { type: 'string', default: '5' },
      'drop-faces-without-crop': { type: 'boolean', default: false },
      scope: { type: 'string' },
      name: { type: 'string' },
    },
  });
  const need = (what: string) => {
    if (!positionals[0]) throw new UsageError(`${command} needs ${what}`);
    return positionals[0];
  };
  switch (command) {
    case 'serve':
      await import('./main.ts');
      return undefined;
    case 'enroll':
      return enrollCommand(need('a folder'), values.largest ? 'largest' : 'reject');
    case 'search': {
      const k = Number(values.k);
      if (!Number.isInteger(k) || k < 1 || k > 100) throw new UsageError('--k must be an integer from 1 to 100');
      return searchCommand(need('an image path'), k);
    }
    case 'reindex':
      return reindexCommand({ dropFacesWithoutCrop: values['drop-faces-without-crop']! });
    case 'export':
      return exportCommand(need('an output file'));
    case 'import':
      return importCommand(need('an export file'));
    case 'migrate-store':
      return migrateStoreCommand(need('a target (postgres:// URL or a folder)'));
    case 'keys':
      try {
        return await keysCommand(positionals[0], positionals[1], { scope: values.scope, name: values.name });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
  }
}

class UsageError extends Error {}

run(process.argv.slice(2)).then(
  (result) => {
    if (result !== undefined) console.log(JSON.stringify(result, null, 2));
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`irface: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(`irface: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
