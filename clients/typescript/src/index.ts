/**
 * @gumgate/client: license activation for Electron and Node desktop apps, against a Gumgate
 * server, with offline verification of its signed tokens.
 */

export { GumgateClient } from "./client.js";
export type { ActivateOptions, GumgateClientOptions, LicenseKeyOption } from "./client.js";
export {
  CLIENT_CODES,
  OFFLINE_CODES,
  SERVER_CODES,
  isKnownCode,
  type ClientCode,
  type Code,
  type KnownCode,
  type OfflineCode,
  type ServerCode,
} from "./codes.js";
export {
  LINUX_MACHINE_ID_PATHS,
  fingerprintOf,
  machineFingerprint,
  readMachineId,
  type ReadMachineIdOptions,
} from "./fingerprint.js";
export { fingerprintHash, licenseHash, normalizeLicenseKey } from "./hashes.js";
export type { HeartbeatOptions } from "./heartbeats.js";
export type { FetchLike } from "./http.js";
export { FileStateStore, MemoryStateStore, type State, type StateStore } from "./state.js";
export {
  verifyToken,
  type EntitlementsClaim,
  type Jwk,
  type Jwks,
  type TokenClaims,
  type TokenVerdict,
  type VerifyTokenInput,
} from "./token.js";
export type {
  ActivateResult,
  Activation,
  DeactivateResult,
  Denial,
  Entitlements,
  HeartbeatSchedule,
  LicenseResult,
  LicenseSummary,
  MachinesResult,
  OfflineGrant,
  OfflineResult,
  OnlineGrant,
} from "./types.js";
