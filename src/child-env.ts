/**
 * The child's environment: the credential Claude Code should use and nothing that carried a
 * secret it does not read itself.
 */
import { effectiveEnvironment, type SettingsLayer } from './claude-auth.js';
import { DELIVERY_VARIABLES, delivered, type Credential } from './payload.js';
import type { FetchedSecret } from './sources/types.js';
import type { TargetUser } from './user.js';

/** Variables whose only purpose is to carry a credential to claude-entry. */
const CARRIERS = ['CLAUDE_CREDENTIALS_B64', 'CLAUDE_CREDENTIALS_JSON'];

export interface ChildEnvironment {
  env: NodeJS.ProcessEnv;
  removed: string[];
}

export function childEnvironment(
  base: NodeJS.ProcessEnv,
  resolved: { credential: Credential; fetched: FetchedSecret } | undefined,
  user: TargetUser,
  envRefs: string[],
  /** Claude Code's settings files: an env block may set ANTHROPIC_BASE_URL (a gateway). */
  settings: SettingsLayer[] = [],
  /** The variables CLAUDE_ENTRY_ENV_* fill (set afterwards, by applyEnvSecrets): ANTHROPIC_BASE_URL may be one. */
  filled: NodeJS.ProcessEnv = {},
): ChildEnvironment {
  const env: NodeJS.ProcessEnv = { ...base };
  // `env:NAME#key` names the variable NAME.
  const refNames = envRefs.map((ref) => ref.replace(/#.*$/, ''));
  const remove = new Set<string>([...CARRIERS, ...refNames, ...(resolved?.fetched.carriedBy ?? [])]);

  // Claude Code prefers ANTHROPIC_API_KEY > CLAUDE_CODE_OAUTH_TOKEN (then its file descriptor)
  // > .credentials.json: the credential the chain chose must not be overridden by one it passed
  // over. (The descriptors are not claude-entry's to pass on: a supervised command gets fds 0-2 only.)
  const delivery = resolved && delivered(resolved.credential);
  if (delivery) {
    for (const name of DELIVERY_VARIABLES) remove.add(name);
    remove.add('CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR');
    // An API key by descriptor ranks with ANTHROPIC_API_KEY; one that is not open leaves the CLI
    // "Not logged in" whatever else it has (observed, both releases).
    remove.add('CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR');
    if (delivery.variable) remove.delete(delivery.variable);
  }

  // ANTHROPIC_AUTH_TOKEN outranks every login (observed, 2.1.330 and 2.1.332). Without
  // ANTHROPIC_BASE_URL it could only go to Anthropic's own API, in place of the login the chain
  // delivered: a stray, removed like the two above. With ANTHROPIC_BASE_URL it is an LLM
  // gateway's token, which the deployment chose and the gateway needs: kept, and the start warns
  // that the delivered login is not used. A login only found in place was not delivered: kept.
  // The gateway may be set up in a settings env block, or filled from a secret, as well as in the environment.
  const gateway = effectiveEnvironment({ ...base, ...filled }, settings).env.ANTHROPIC_BASE_URL;
  if (resolved && !resolved.fetched.fromCredentialsFile && !gateway) remove.add('ANTHROPIC_AUTH_TOKEN');

  const removed = [...remove].filter((name) => name in env).sort();
  for (const name of remove) delete env[name];
  if (delivery?.variable) env[delivery.variable] = delivery.payload;

  if (user.dropsFromRoot) {
    env.HOME = user.home;
    if (user.name !== undefined) {
      env.USER = user.name;
      env.LOGNAME = user.name;
    }
  }
  return { env, removed };
}
