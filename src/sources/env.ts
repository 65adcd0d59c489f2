/** Environment variables: `env:NAME[#key]` references and the conventional variables. */
import { ConfigError, SourceNotConfigured } from '../errors.js';
import { refuseCredentialShaped } from '../secret-shape.js';
import { fileLink } from './file.js';
import { selectJsonKey, splitKeySelector, stringsIn } from './json-key.js';
import type { FetchedSecret, ReferenceProvider, SourceContext, SourceLink } from './types.js';

const isSet = (value: string | undefined) => value !== undefined && value !== '';

/** A variable that holds the payload itself. Unset or empty means not configured. */
export function envLink(name: string, ctx: SourceContext, kind?: FetchedSecret['kind']): SourceLink {
  return {
    describe: name,
    isSet: () => isSet(ctx.env[name]),
    fetch: async () => {
      const value = ctx.env[name];
      if (value === undefined || value === '') throw new SourceNotConfigured(`${name} is not set`);
      return { payload: value, source: name, carriedBy: [name], kind };
    },
  };
}

/** `NAME_FILE`: the Docker-secrets convention of naming a file that holds the value. */
export function envFileLink(name: string, ctx: SourceContext, kind?: FetchedSecret['kind']): SourceLink {
  return {
    describe: name,
    isSet: () => isSet(ctx.env[name]),
    fetch: async () => {
      const path = ctx.env[name];
      if (path === undefined || path === '') throw new SourceNotConfigured(`${name} is not set`);
      // The messages below quote the path: a credential pasted here must never be quoted.
      refuseCredentialShaped(name, path, 'a file path');
      if (!path.startsWith('/')) throw new ConfigError(`${name}: ${path} is not an absolute path`);
      const fetched = await fileLink(path, `${name}=${path}`, [], ctx.user).fetch();
      return { ...fetched, kind };
    },
  };
}

export const envReferences: ReferenceProvider = {
  matches: (ref) => ref.startsWith('env:'),
  link(ref, ctx) {
    const { ref: withoutKey, key } = splitKeySelector(ref);
    const name = withoutKey.slice('env:'.length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`CLAUDE_ENTRY_SOURCE: ${ref}: not a valid variable name`);
    const link = envLink(name, ctx);
    if (key === undefined) return link;
    return {
      describe: ref,
      isSet: link.isSet,
      fetch: async () => {
        // `env:NAME#key`: one key of a JSON object held by the variable (unset: not configured).
        const fetched = await link.fetch();
        ctx.log.addSecret(fetched.payload.toString().trim());
        for (const value of stringsIn(fetched.payload)) ctx.log.addSecret(value);
        return { ...fetched, payload: selectJsonKey(fetched.payload, key, ref), source: ref };
      },
    };
  },
};
