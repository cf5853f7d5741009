import { resolveSettings, settingsFromEnv, settingsFromFile, type Settings } from "../config/settings.js";

export interface CliFlags {
  config?: string;
  grpcAddr?: string;
  httpAddr?: string;
  policies?: string;
  decisionPath?: string;
  dryRun?: boolean;
  logLevel?: string;
  redisUrl?: string;
  ratelimitConfig?: string;
  skipRequestBodyParse?: boolean;
  onDecisionError?: string;
  logDecisionInput?: boolean;
  logDecisionBody?: boolean;
  auditFile?: string;
  candidatePolicies?: string;
  shadowSampleRate?: string;
  workers?: string;
  adminTokenFile?: string;
  admin?: boolean;
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  grpcTlsClientCa?: string;
  httpTlsCert?: string;
  httpTlsKey?: string;
  decisionLogUrl?: string;
  decisionLogTokenFile?: string;
  bundleUrl?: string;
  bundleFile?: string;
  bundleTokenFile?: string;
  bundleVerificationKey?: string;
  bundleStateDir?: string;
  watch?: boolean;
  policyTests?: boolean;
}

/** flags > TOLLGATE_* env > --config file > defaults. */
export function loadSettings(flags: CliFlags, env: NodeJS.ProcessEnv = process.env): Settings {
  const configFile = flags.config ?? env["TOLLGATE_CONFIG"];
  const fromFlags: Record<string, unknown> = {
    grpcAddr: flags.grpcAddr,
    httpAddr: flags.httpAddr,
    policies: flags.policies,
    decisionPath: flags.decisionPath,
    dryRun: flags.dryRun,
    logLevel: flags.logLevel,
    redisUrl: flags.redisUrl,
    ratelimitConfig: flags.ratelimitConfig,
    skipRequestBodyParse: flags.skipRequestBodyParse,
    onDecisionError: flags.onDecisionError,
    logDecisionInput: flags.logDecisionInput,
    logDecisionBody: flags.logDecisionBody,
    auditFile: flags.auditFile,
    candidatePolicies: flags.candidatePolicies,
    shadowSampleRate: flags.shadowSampleRate,
    workers: flags.workers,
    adminTokenFile: flags.adminTokenFile,
    decisionLogUrl: flags.decisionLogUrl,
    bundleUrl: flags.bundleUrl,
    bundleFile: flags.bundleFile,
    bundleTokenFile: flags.bundleTokenFile,
    bundleVerificationKeyFile: flags.bundleVerificationKey,
    bundleStateDir: flags.bundleStateDir,
    decisionLogTokenFile: flags.decisionLogTokenFile,
    adminDisabled: flags.admin === false ? true : undefined,
    grpcTlsCertFile: flags.grpcTlsCert,
    grpcTlsKeyFile: flags.grpcTlsKey,
    grpcTlsClientCaFile: flags.grpcTlsClientCa,
    httpTlsCertFile: flags.httpTlsCert,
    httpTlsKeyFile: flags.httpTlsKey,
    // commander sets --no-x options to true by default; only an explicit --no-x counts as a flag.
    watch: flags.watch === false ? false : undefined,
    runPolicyTests: flags.policyTests === false ? false : undefined,
  };
  return resolveSettings({
    ...(configFile ? { file: settingsFromFile(configFile) } : {}),
    env: settingsFromEnv(env),
    flags: fromFlags,
  });
}
