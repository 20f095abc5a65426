export { type Clock, systemClock, ManualClock } from './clock.js';
export { newId } from './ids.js';
export { formatBytes, parseBytes } from './units.js';
export { packageInfo } from './package.js';
export { Rng } from './random.js';
export { type ListenTarget, type PortRange, explainListenError, freePort, freePortInRange, parsePortRange } from './net.js';
