/**
 * One call into an SDK module, as a cloud link (fetch) and a cloud store (read, write) make it.
 *
 * The deadline is CLAUDE_ENTRY_TIMEOUT from the moment the SDK module is loaded: loading is
 * local CPU work, not the network's, and a busy machine must not turn a slow decompress into a
 * timeout. The SDK module enforces that deadline itself (it aborts its requests and says what
 * the service last answered); this layer owns only the guarantee that the call settles even if
 * a module does not, a little after the deadline so that the module's own error wins.
 */
import { beforeDeadline, formatSeconds } from '../deadline.js';
import { SourceUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadCloudModule } from './sdk-module.js';
import type { CloudFetchOptions, CloudProviderName, CloudSdkModule } from './types.js';

/** A parsed cloud reference, ready to fetch. */
export interface CloudTarget<Ref> {
  provider: CloudProviderName;
  ref: Ref;
  /** Names the reference in logs and errors, e.g. `aws-sm:prod/claude#token`. */
  source: string;
  /** From a `#key` suffix: the payload is this key of a JSON object secret. */
  key?: string;
}

export interface CloudCallContext {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** CLAUDE_ENTRY_TIMEOUT, for one call (its retries included). */
  timeoutMs: number;
}

/** How long after the deadline this layer gives up on a module that did not. */
export const SAFETY_MARGIN_MS = 250;

/**
 * `call` with the SDK module of `target` and a deadline; `hint` ends the message of the
 * safety net's timeout (what to check).
 */
export async function callSdk<Ref, T>(
  target: CloudTarget<Ref>,
  ctx: CloudCallContext,
  call: (sdk: CloudSdkModule<Ref>, options: CloudFetchOptions) => Promise<T>,
  hint = '',
): Promise<T> {
  const sdk = await loadCloudModule<Ref>(target.provider);
  const deadline = Date.now() + ctx.timeoutMs;
  return beforeDeadline(
    deadline + SAFETY_MARGIN_MS,
    () => call(sdk, { env: ctx.env, log: ctx.log, deadline }),
    () => new SourceUnavailableError(`${target.source}: no answer within ${formatSeconds(ctx.timeoutMs)}${hint}`),
  );
}
