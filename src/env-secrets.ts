/**
 * More than the login: any variable of the command filled from the same sources, with the same
 * references, as the credential. `CLAUDE_ENTRY_ENV_GH_TOKEN=aws-sm:ci/github#token` gives the
 * command GH_TOKEN with that secret's value.
 *
 * Why a prefix and not a value that is itself a reference (secrets-init, berglas): with a
 * prefix the deployment says which variables are to be filled, so nothing else is inspected or
 * replaced; a value that merely looks like a reference (an absolute path, `env:...`) stays what
 * it is; doctor can list exactly what a start will fill; and the command never sees the
 * reference under the name where it expects the secret if a start goes wrong.
 *
 * The same deadline (CLAUDE_ENTRY_TIMEOUT, all fetched at once), errors and exit codes (78, 69)
 * as the chain; every value is added to the log's redaction list; the CLAUDE_ENTRY_ENV_*
 * variables and the variables an `env:` reference read are removed from the command's
 * environment. References to the same secret (`...#gh`, `...#npm`) are fetched once, and an SDK
 * is loaded once for all references of its provider (src/cloud/sdk-module.ts).
 */
import { ConfigError, EntryError, SourceNotConfigured } from './errors.js';
import { createLogger } from './log.js';
import { linkForReference } from './sources/references.js';
import { selectJsonKey, splitKeySelector } from './sources/json-key.js';
import type { FetchedSecret, SourceContext } from './sources/types.js';

export const ENV_PREFIX = 'CLAUDE_ENTRY_ENV_';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface EnvSecretRequest {
  /** The variable that asks, e.g. CLAUDE_ENTRY_ENV_GH_TOKEN. */
  variable: string;
  /** The variable to fill, e.g. GH_TOKEN. */
  name: string;
  reference: string;
}

export interface FilledVariable {
  name: string;
  value: string;
  source: string;
  /** Variables that carried it (an `env:` reference's), removed from the command's environment. */
  carriedBy: string[];
}

/** The requests in the environment, checked; sorted by name so that errors and logs are stable. */
export function envSecretRequests(env: NodeJS.ProcessEnv): EnvSecretRequest[] {
  const requests: EnvSecretRequest[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(ENV_PREFIX) || value === undefined) continue;
    const name = variable.slice(ENV_PREFIX.length);
    if (!NAME.test(name)) throw new ConfigError(`${variable}: "${name}" is not a variable name`);
    if (name.startsWith('CLAUDE_ENTRY_')) throw new ConfigError(`${variable}: claude-entry's own settings cannot be filled from a secret`);
    const reference = value.trim();
    if (reference === '') throw new ConfigError(`${variable} is empty: give a reference (e.g. aws-sm:NAME#key, /run/secrets/x, env:NAME)`);
    requests.push({ variable, name, reference });
  }
  return requests.sort((a, b) => a.name.localeCompare(b.name));
}

/** Fetch every request at once; one fetch per secret, whatever the number of keys read from it. */
export async function fillEnvSecrets(requests: EnvSecretRequest[], ctx: SourceContext): Promise<FilledVariable[]> {
  const fetches = new Map<string, Promise<FetchedSecret>>();
  const fetchOnce = (variable: string, reference: string): Promise<FetchedSecret> => {
    let fetch = fetches.get(reference);
    if (!fetch) {
      fetch = Promise.resolve()
        .then(() => linkForReference(reference, ctx).fetch())
        .catch((error: unknown) => {
          throw explain(error, variable, reference);
        });
      fetch.catch(() => undefined); // observed below, in order
      fetches.set(reference, fetch);
    }
    return fetch;
  };
  const pending = requests.map((request) => {
    // `#key` is applied here, so that the keys of one secret share its fetch.
    const { ref, key } = splitKeySelector(request.reference);
    return { request, key, fetch: fetchOnce(request.variable, key === undefined ? request.reference : ref) };
  });
  const filled: FilledVariable[] = [];
  for (const { request, key, fetch } of pending) {
    const fetched = await fetch;
    const raw = key === undefined ? fetched.payload : selectJsonKey(fetched.payload, key, `${request.variable}=${request.reference}`);
    const value = (typeof raw === 'string' ? raw : raw.toString('utf8')).replace(/\r?\n$/, '');
    if (value.includes('\0')) throw new ConfigError(`${request.variable}: ${request.reference} holds a NUL byte, which no environment variable can carry`);
    if (value === '') throw new ConfigError(`${request.variable}: ${request.reference} is empty`);
    filled.push({ name: request.name, value, source: request.reference, carriedBy: fetched.carriedBy });
  }
  return filled;
}

/** The chain's error (its exit code kept), its message naming the variable that asked. */
function explain(error: unknown, variable: string, reference: string): Error {
  if (error instanceof SourceNotConfigured) {
    // Not a chain here: the deployment asked for this one, so "not set" is an error.
    return new ConfigError(`${variable}: ${reference}: ${error.message}`);
  }
  if (error instanceof EntryError && !error.message.startsWith(variable)) {
    error.message = `${variable}: ${error.message}`;
  }
  return error as Error;
}

/** Put the values in the command's environment; remove the requests and the carriers. */
export function applyEnvSecrets(childEnv: NodeJS.ProcessEnv, requests: EnvSecretRequest[], filled: FilledVariable[]): void {
  for (const request of requests) delete childEnv[request.variable];
  for (const variable of filled) for (const carrier of variable.carriedBy) delete childEnv[carrier];
  for (const variable of filled) childEnv[variable.name] = variable.value;
}

/** doctor's lines: each variable and its reference, never a value, nothing fetched. */
export function describeEnvSecrets(env: NodeJS.ProcessEnv): { lines: string[]; problems: string[] } {
  let requests: EnvSecretRequest[];
  try {
    requests = envSecretRequests(env);
  } catch (error) {
    return { lines: [], problems: [(error as Error).message] };
  }
  if (requests.length === 0) return { lines: [], problems: [] };
  const problems: string[] = [];
  const lines = ['Variables filled from secrets (CLAUDE_ENTRY_ENV_*; not fetched by doctor)'];
  for (const { name, reference, variable } of requests) {
    lines.push(`  ${name.padEnd(28)} <- ${reference}`);
    try {
      linkForReference(splitKeySelector(reference).ref, { env, log: createLogger({ level: 'silent' }), timeoutMs: 0, credentialsPath: '/nonexistent' });
    } catch (error) {
      problems.push(`${variable}: ${(error as Error).message}`);
    }
  }
  return { lines, problems };
}
