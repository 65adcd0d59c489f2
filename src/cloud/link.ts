/**
 * The link of a cloud reference: parsed by src/sources/{aws,gcp,azure}.ts when the chain is
 * built; the SDK module and the code that calls it are loaded only when it is fetched, the
 * cloud store (sync, `export --to`) only when it is written.
 */
import type { SourceContext, SourceLink } from '../sources/types.js';
import { selectJsonKey, stringsIn } from '../sources/json-key.js';
import type { SyncStore } from '../sync/store.js';
import type { CloudTarget } from './call.js';

export type { CloudTarget } from './call.js';

export function cloudLink<Ref>(target: CloudTarget<Ref>, ctx: SourceContext): SourceLink {
  const writable = async (): Promise<SyncStore> => (await import('../sync/cloud-store.js')).cloudStore(target, ctx);
  return {
    describe: target.source,
    isSet: () => true,
    fetch: async () => {
      const started = Date.now();
      const [{ callSdk }, { loadCloudModule }] = await Promise.all([import('./call.js'), import('./sdk-module.js')]);
      await loadCloudModule(target.provider);
      ctx.log.debug(`${target.source}: ${target.provider} SDK loaded in ${Date.now() - started} ms`);
      const payload = await callSdk(
        target,
        ctx,
        (sdk, options) => sdk.fetchSecret(target.ref, options),
        ` (CLAUDE_ENTRY_TIMEOUT); check the network path to the ${target.provider.toUpperCase()} endpoint`,
      );
      ctx.log.debug(`${target.source}: fetched in ${Date.now() - started} ms`);
      // The whole answer is secret, the keys `#key` did not select included.
      ctx.log.addSecret(payload.toString().trim());
      if (target.key !== undefined) for (const value of stringsIn(payload)) ctx.log.addSecret(value);
      return {
        payload: target.key === undefined ? payload : selectJsonKey(payload, target.key, target.source),
        source: target.source,
        carriedBy: [],
        writable,
      };
    },
    writable,
  };
}
