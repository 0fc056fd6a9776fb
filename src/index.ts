// The public API of otaflow: what a firmware that embeds the agent, a new host (board) and a new
// backend (cloud) may rely on. Everything else under src/ is internal and may change in any
// release; what is exported here follows semantic versioning (see CHANGELOG.md).

// The agent and its state machine.
export { Agent, DEFAULT_CONFIG } from "./core/agent/agent";
export type {
  AgentConfig,
  AgentNotice,
  AgentOptions,
  Install,
  SelfTest,
  SelfTestContext,
} from "./core/agent/agent";
export { TRANSITIONS } from "./core/agent/machine";
export type { AgentEvent, AgentState, Transition } from "./core/agent/machine";
export type { TransferConfig } from "./core/transfer";
export type { BackoffPolicy } from "./core/download/backoff";

// The ports a host implements.
export type {
  BootControl,
  Clock,
  Digest,
  HashAlgorithm,
  HostPorts,
  HttpClient,
  HttpRequest,
  HttpResponse,
  ImageState,
  KeyValueStore,
  LogLevel,
  Logger,
  MqttClient,
  MqttMessage,
  NativeDigests,
  NativeSignatures,
  QoS,
  RunningImage,
  SignatureStream,
  SlotReader,
  SlotWriter,
  TimerHandle,
} from "./core/ports";

// The interface a backend implements.
export type { Backend, BackendListener } from "./core/backend";
export type { DeltaOffer, ImageSource, Offer, Report, ReportStatus } from "./core/offer";
export type { ByteSource, ByteStream } from "./core/source";

// Errors.
export { asOtaError, isOtaError, otaError } from "./core/errors";
export type { FailureCode, OtaError } from "./core/errors";

// Byte helpers for backends and hosts (portable code has no TextEncoder or Buffer).
export { concatBytes, fromHex, toHex, utf8Decode, utf8Encode } from "./core/util/bytes";

// The backends.
export { createAwsBackend, mqttIdentity as awsMqttIdentity } from "./backends/aws/index";
export type {
  AwsBackend,
  AwsConfig,
  AwsDeps,
  AwsJob,
  AwsJobResult,
  AwsJobStatus,
} from "./backends/aws/index";
export { handleFotaJobs } from "./backends/aws/fota-jobs";
export type { FotaAgent, FotaJobs, FotaJobsOptions, MqttPause } from "./backends/aws/fota-jobs";
export {
  MAX_CHUNK_SIZE,
  createThingsBoardBackend,
  mqttIdentity as thingsBoardMqttIdentity,
} from "./backends/thingsboard/index";
export type { PackageKind, ThingsBoardConfig, ThingsBoardDeps } from "./backends/thingsboard/index";
export {
  NO_EXPIRY,
  createTencentBackend,
  mqttIdentity as tencentMqttIdentity,
} from "./backends/tencent/index";
export type {
  MqttIdentity,
  TencentConfig,
  TencentDeps,
  TencentIdentityConfig,
} from "./backends/tencent/index";

// The configuration.
export {
  DEFAULT_POLICY,
  agentConfigOf,
  backendConfigOf,
  backendNameOf,
  checkConfig,
  createBackend,
  isConfigError,
  mqttIdentityOf,
  parseBroker,
} from "./config";
export type {
  AwsSettings,
  BackendConfig,
  BackendDeps,
  BackendName,
  BackendSettings,
  ConfigError,
  ConnectionSettings,
  DeviceSettings,
  InsecureSettings,
  SecuritySettings,
  OtaflowConfig,
  OtaflowConfigInput,
  PolicySettings,
  RunningIdentity,
  TencentSettings,
  ThingsBoardSettings,
} from "./config";
