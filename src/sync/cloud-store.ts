/**
 * The secret behind a cloud reference as a store: its SDK module's readSecret and writeSecret,
 * each one call under CLAUDE_ENTRY_TIMEOUT (src/cloud/call.ts). With `#key`, that key of the
 * JSON object (the other keys are kept).
 */
import { callSdk, type CloudCallContext, type CloudTarget } from '../cloud/call.js';
import type { CloudFetchOptions, CloudSdkModule } from '../cloud/types.js';
import { ConfigError } from '../errors.js';
import type { SyncStore } from './store.js';
import { jsonKeyStore } from './stores.js';

export function cloudStore<Ref>(target: CloudTarget<Ref>, ctx: CloudCallContext): SyncStore {
  const whole = secretStore(target, ctx);
  return target.key === undefined ? whole : jsonKeyStore(whole, target.key, target.source);
}

/** The whole value of the secret. */
function secretStore<Ref>(target: CloudTarget<Ref>, ctx: CloudCallContext): SyncStore {
  const call = <T>(use: (sdk: Required<CloudSdkModule<Ref>>, options: CloudFetchOptions) => Promise<T>) =>
    callSdk(target, ctx, async (sdk, options) => {
      if (!sdk.readSecret || !sdk.writeSecret) throw new ConfigError(`${target.source}: writing to ${target.provider} secrets is not supported`);
      return use(sdk as Required<CloudSdkModule<Ref>>, options);
    });
  return {
    describe: target.source,
    async read() {
      const { payload, version } = await call((sdk, options) => sdk.readSecret(target.ref, options));
      return { text: payload, version };
    },
    write: (text, ifVersion) => call((sdk, options) => sdk.writeSecret(target.ref, text, { ...options, ifVersion })),
  };
}
