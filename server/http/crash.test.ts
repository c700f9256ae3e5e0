// Crash safety on SQLite: SIGKILL during concurrent enrollment loses no acknowledged write (crash-scenario.ts).
import { test } from 'node:test';
import { crashScenario } from './crash-scenario.ts';

test('SIGKILL during concurrent enrollment loses no acknowledged write; the index is rebuilt to match', (t) => crashScenario(t));
