export {
  DEFAULT_RESTART,
  type ProcessPhase,
  type ProcessSpec,
  type ProcessStatus,
  type RestartPolicy,
  Supervisor,
  type SupervisorOptions,
} from './supervisor.js';
export { groupMembers, isAlive, processStartTime } from './proc.js';
export { startLifeline, stopRecordedReplicas } from './lifeline.js';
