export { run, type Io } from './run.js';
export { EXIT, type ExitCode } from './exit.js';
export { manifestSchema, type Manifest } from './manifest.js';
