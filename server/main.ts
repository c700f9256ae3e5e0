// Entry point of `npm start` / `irface serve`: parse config, build the server, listen, stop cleanly.
import { parseConfig, ConfigError } from './config.ts';
import { buildServer } from './compose.ts';

async function main() {
  let config;
  try {
    config = parseConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`irface: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const logger = config.logLevel === 'silent' ? false : { level: config.logLevel };
  const { app, runtime } = await buildServer(config, { logger, log: (m) => console.error(`irface: ${m}`) });
  await app.listen({ host: config.host, port: config.port });
  app.log.info(`irface ready: model ${runtime.model.card.id} on ${runtime.embedder.device}, data in ${config.dataDir}`);
  const stop = async (signal: string) => {
    app.log.info(`received ${signal}, shutting down`);
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  console.error(`irface: failed to start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
