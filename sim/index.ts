/** A local Microsoft Graph calling simulator: see sim/README.md. */
export { startSimulator, Simulator, type SimulatorOptions } from './simulator';
export type { CallInfo, CallState, CallSummary, RecordingInfo } from './platform';
export type { GraphRequestRecord } from './graphApi';
export type { NotificationRecord, CommsNotification, CommsNotifications, ChangeType } from './notifier';
export type { FaultOptions } from './faults';
export type { Actor, TimelineEvent } from './timeline';
export type { ResultInfo, CompletionReason } from './codes';
export { CALL_RESULTS, OPERATION_RESULTS } from './codes';
export {
  parseCallerScript,
  parseTargetScript,
  ScriptError,
  type CallerScriptInput,
  type TargetScriptInput,
} from './people';
export { makeWav, WAV_SAMPLE_RATE } from './wav';
export type { EndpointRequest, EndpointScriptInput } from './endpoints';
