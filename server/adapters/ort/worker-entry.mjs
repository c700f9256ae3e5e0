// Worker bootstrap: registers tsx inside the worker thread (loader hooks are per thread) and runs worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
