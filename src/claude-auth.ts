/**
 * The credential Claude Code will really use, from the command's environment, the settings
 * files, the installed login and the command's argv; and every credential that shadows, or
 * is shadowed by, another. Pure: the settings are read elsewhere (claude-settings.ts).
 *
 * Observed with the real CLI, 2.1.330 and 2.1.332, against a fake API (test/system/
 * cli-auth-surface.test.ts and the README's "What Claude Code will use"):
 *  - a cloud provider variable sends nothing to the Anthropic API at all;
 *  - ANTHROPIC_AUTH_TOKEN is the Authorization header, whatever else is set (OAuth token,
 *    credentials file, apiKeyHelper, API key);
 *  - ANTHROPIC_API_KEY is the x-api-key header; with it no OAuth login is sent;
 *  - apiKeyHelper (the highest settings file that names one) fills Authorization when
 *    ANTHROPIC_AUTH_TOKEN does not, and x-api-key when ANTHROPIC_API_KEY does not: it
 *    outranks CLAUDE_CODE_OAUTH_TOKEN and the credentials file;
 *  - CLAUDE_CODE_OAUTH_TOKEN outranks the credentials file;
 *  - workload identity federation (ANTHROPIC_IDENTITY_TOKEN_FILE + ANTHROPIC_FEDERATION_RULE_ID)
 *    outranks the credentials file (the CLI exchanges the identity token first);
 *  - settings `env` blocks override the process environment (managed > --settings > local >
 *    project > user), and a value of "" there unsets the variable; any other JSON value is
 *    read as its string (true is "true", 1 is "1", null is "null"); project and local
 *    settings apply in `-p` without a trust entry;
 *  - `--bare` ignores CLAUDE_CODE_OAUTH_TOKEN (and its file descriptor), workload identity
 *    federation, the credentials file and every apiKeyHelper but the command's `--settings`
 *    one, and still applies the settings `env` blocks;
 *  - the command's options end at `--`: `claude -p -- --bare` asks about "--bare";
 *  - an interactive session (no -p) asks "Detected a custom API key ... use it?" for an
 *    ANTHROPIC_API_KEY whose last 20 characters .claude.json has not approved; its default, No,
 *    rejects it for good and the next credential is used; `-p` uses the key whatever the answer.
 * The managed layer (/etc/claude-code/managed-settings.json, then managed-settings.d/*.json) is
 * exercised in a private mount namespace.
 */

/** One settings file, as read: only what bears on the credential. */
export interface SettingsLayer {
  /** 'flag': the command's `--settings` (a JSON object or a file). */
  scope: 'user' | 'project' | 'local' | 'flag' | 'managed';
  path: string;
  env?: Record<string, unknown>;
  apiKeyHelper?: unknown;
  /** permissions.defaultMode (for root-bypass.ts). */
  defaultMode?: unknown;
}

/** What claude-entry put in place for the command (or found there). */
export type InstalledLogin = 'credentials-file' | 'oauth-token' | 'api-key' | undefined;

export interface AuthInputs {
  /** The environment the command is started with. */
  env: NodeJS.ProcessEnv;
  /** Settings files that exist, in any order. */
  settings: SettingsLayer[];
  /** A usable credentials file is in place for the command. */
  credentialsFile: boolean;
  /** What claude-entry delivered, to say whether it is the one used. */
  installed: InstalledLogin;
  /** The command, argv[0] included. */
  command: string[];
  /** customApiKeyResponses as the command will find .claude.json: the last 20 characters of each key. */
  apiKeyResponses?: { approved: string[]; rejected: string[] };
}

export interface AuthCandidate {
  /** Stable id, for tests and for matching the installed login. */
  id: 'provider' | 'auth-token' | 'api-key' | 'api-key-fd' | 'api-key-helper' | 'oauth-token' | 'federation' | 'credentials-file';
  /** What it is, for a reader: names and paths, never a value. */
  label: string;
  /** How it reaches the API. */
  sentAs: string;
}

export interface AuthPicture {
  /** What Claude Code will authenticate with; undefined: it will say "Not logged in". */
  winner?: AuthCandidate;
  /** One line per shadowing, each saying what to change. */
  shadowings: string[];
  /** The installed login is not what Claude Code will use. */
  installedShadowed: boolean;
  /** The shadowings that are wrong whatever was installed: two providers, two credentials in one request. */
  conflicts: string[];
  /** A question an interactive session will stop at before it uses any credential. */
  question?: string;
}

const SCOPE_ORDER: SettingsLayer['scope'][] = ['user', 'project', 'local', 'flag', 'managed'];

/**
 * In the order Claude Code picks one when several are set (its own, 2.1.330 and 2.1.332: Foundry
 * before Vertex, observed), with its names for them. Each sends nothing to ANTHROPIC_BASE_URL.
 */
const PROVIDERS: [string, string][] = [
  ['CLAUDE_CODE_USE_BEDROCK', 'Amazon Bedrock'],
  ['CLAUDE_CODE_USE_FOUNDRY', 'Microsoft Foundry'],
  ['CLAUDE_CODE_USE_ANTHROPIC_AWS', 'Claude Platform on AWS'],
  ['CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD', 'Claude Platform on Google Cloud'],
  ['CLAUDE_CODE_USE_MANTLE', 'Amazon Bedrock (Mantle)'],
  ['CLAUDE_CODE_USE_VERTEX', 'Google Vertex AI'],
];

/** Every variable that decides or carries the credential: a settings env block touching one is said. */
export const AUTH_VARIABLES = [
  ...PROVIDERS.map(([name]) => name),
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_API_KEY',
  'CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR',
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR',
  'ANTHROPIC_IDENTITY_TOKEN_FILE',
  'ANTHROPIC_FEDERATION_RULE_ID',
  'ANTHROPIC_PROFILE',
  'CLAUDE_CODE_SIMPLE',
];

/** Claude Code's own reading of a flag variable ("1", "true", "yes", "on"). */
export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

const set = (value: string | undefined) => value !== undefined && value !== '';

function sortedLayers(settings: SettingsLayer[]): SettingsLayer[] {
  return [...settings].sort((a, b) => SCOPE_ORDER.indexOf(a.scope) - SCOPE_ORDER.indexOf(b.scope));
}

/**
 * The environment as Claude Code sees it once its settings are loaded, and which settings
 * file last set or unset each credential variable.
 */
export function effectiveEnvironment(env: NodeJS.ProcessEnv, settings: SettingsLayer[]): { env: NodeJS.ProcessEnv; overrides: string[] } {
  const result: NodeJS.ProcessEnv = { ...env };
  const touchedBy = new Map<string, { path: string; unset: boolean }>();
  for (const layer of sortedLayers(settings)) {
    if (!layer.env || typeof layer.env !== 'object') continue;
    for (const [name, raw] of Object.entries(layer.env)) {
      // Claude Code reads every value as a string: `true` sets "true", `1` "1", `null` "null".
      const value = String(raw);
      if (value === '') delete result[name];
      else result[name] = value;
      if (AUTH_VARIABLES.includes(name)) touchedBy.set(name, { path: layer.path, unset: value === '' });
    }
  }
  const overrides = [...touchedBy].map(([name, { path, unset }]) =>
    unset
      ? `the env block of ${path} unsets ${name}${set(env[name]) ? ', which the command was given' : ''}`
      : `the env block of ${path} sets ${name}${set(env[name]) ? ", replacing the command's own" : ''}`,
  );
  return { env: result, overrides };
}

/** The highest settings file that names an apiKeyHelper. */
function apiKeyHelperOf(settings: SettingsLayer[]): SettingsLayer | undefined {
  return (
    sortedLayers(settings)
      .reverse()
      // Only "" is no helper: Claude Code runs a blank one too, and sends what it prints (nothing).
      .find((layer) => typeof layer.apiKeyHelper === 'string' && layer.apiKeyHelper !== '')
  );
}

/** The command's options: its arguments up to `--` (after it, `--bare` is a prompt). */
export function claudeOptions(command: string[]): string[] {
  const args = command.slice(1);
  const end = args.indexOf('--');
  return end === -1 ? args : args.slice(0, end);
}

/** The value of an option given as `--name value` or `--name=value` (the last one counts, as in Claude Code). */
export function optionValue(command: string[], name: string): string | undefined {
  const options = claudeOptions(command);
  let value: string | undefined;
  for (let i = 0; i < options.length; i++) {
    if (options[i] === name && i + 1 < options.length) value = options[++i];
    else if (options[i]!.startsWith(`${name}=`)) value = options[i]!.slice(name.length + 1);
  }
  return value;
}

export function isBare(command: string[]): boolean {
  return claudeOptions(command).includes('--bare');
}

const SUBCOMMANDS = ['agents', 'auth', 'config', 'doctor', 'install', 'mcp', 'migrate-installer', 'plugin', 'setup-token', 'update'];

/** `claude` itself, starting a session that is not `-p` (nor a subcommand such as `claude auth`). */
export function isInteractiveSession(command: string[]): boolean {
  const options = claudeOptions(command);
  const name = command[0]?.split('/').pop();
  return name === 'claude' && !options.includes('-p') && !options.includes('--print') && !SUBCOMMANDS.includes(command[1] ?? '');
}

export function claudeAuth(inputs: AuthInputs): AuthPicture {
  const { env, overrides } = effectiveEnvironment(inputs.env, inputs.settings);
  // CLAUDE_CODE_SIMPLE is what --bare sets: the same minimal mode, from the environment or a settings env block.
  const bare = isBare(inputs.command) || isTruthy(env.CLAUDE_CODE_SIMPLE);
  const bareCause = isBare(inputs.command) ? '--bare in the command' : 'CLAUDE_CODE_SIMPLE (what --bare sets)';
  // With --bare only the command's own --settings may name an apiKeyHelper (observed; its --help says so too).
  const helper = apiKeyHelperOf(bare ? inputs.settings.filter((layer) => layer.scope === 'flag') : inputs.settings);
  const ignoredHelper = bare ? apiKeyHelperOf(inputs.settings.filter((layer) => layer.scope !== 'flag')) : undefined;
  const shadowings: string[] = [...overrides];
  const conflicts: string[] = [];

  // Everything present, highest precedence first.
  const present: AuthCandidate[] = [];
  const providers = PROVIDERS.filter(([name]) => isTruthy(env[name]));
  if (providers.length > 1) {
    conflicts.push(
      `${providers.map(([name]) => name).join(' and ')} are all set: Claude Code uses ${providers[0]![1]} (${providers[0]![0]}) alone; set only one`,
    );
  }
  for (const [name, what] of providers.slice(0, 1))
    present.push({ id: 'provider', label: `${what} (${name})`, sentAs: `requests go to ${what}, not to the Anthropic API` });
  if (set(env.ANTHROPIC_AUTH_TOKEN)) present.push({ id: 'auth-token', label: 'ANTHROPIC_AUTH_TOKEN', sentAs: 'Authorization: Bearer' });
  let keyAsked = false;
  if (set(env.ANTHROPIC_API_KEY)) {
    const fingerprint = env.ANTHROPIC_API_KEY!.slice(-20);
    const responses = inputs.apiKeyResponses ?? { approved: [], rejected: [] };
    if (!isInteractiveSession(inputs.command) || responses.approved.includes(fingerprint)) {
      present.push({ id: 'api-key', label: 'ANTHROPIC_API_KEY', sentAs: 'x-api-key' });
    } else if (responses.rejected.includes(fingerprint)) {
      shadowings.push(
        'ANTHROPIC_API_KEY is not used by an interactive session: it was answered No at "Detected a custom API key" (customApiKeyResponses.rejected in .claude.json); claude -p would use it',
      );
    } else keyAsked = true;
  }
  // An API key read from a file descriptor: below ANTHROPIC_API_KEY, otherwise the same (observed).
  const keyDescriptor = set(env.CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR) && !bare;
  if (keyDescriptor) present.push({ id: 'api-key-fd', label: 'CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR', sentAs: 'x-api-key' });
  if (helper) present.push({ id: 'api-key-helper', label: `apiKeyHelper in ${helper.path}`, sentAs: 'Authorization: Bearer and x-api-key' });
  const oauthVariable = ['CLAUDE_CODE_OAUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR'].find((name) => set(env[name]));
  if (oauthVariable && !bare) present.push({ id: 'oauth-token', label: oauthVariable, sentAs: 'Authorization: Bearer (OAuth)' });
  const federation = set(env.ANTHROPIC_IDENTITY_TOKEN_FILE) && set(env.ANTHROPIC_FEDERATION_RULE_ID);
  if (federation && !bare) {
    present.push({ id: 'federation', label: 'workload identity federation (ANTHROPIC_IDENTITY_TOKEN_FILE)', sentAs: 'an exchanged OAuth token' });
  }
  if (inputs.credentialsFile && !bare) present.push({ id: 'credentials-file', label: 'the credentials file', sentAs: 'Authorization: Bearer (OAuth)' });

  if (bare) {
    const ignored = [
      ignoredHelper && `apiKeyHelper in ${ignoredHelper.path}`,
      set(env.CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR) && 'CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR',
      oauthVariable,
      federation && 'workload identity federation',
      inputs.credentialsFile && 'the credentials file',
    ].filter(Boolean);
    if (ignored.length > 0)
      shadowings.push(
        `${bareCause}: Claude Code ignores ${ignored.join(', ')}; give it ANTHROPIC_API_KEY (or an apiKeyHelper in --settings), or drop ${isBare(inputs.command) ? '--bare' : 'CLAUDE_CODE_SIMPLE'}`,
      );
  }

  const winner = present[0];
  for (const loser of present.slice(1)) {
    if (winner!.id === 'provider') {
      shadowings.push(`${loser.label} is not used: ${winner!.label} is set`);
    } else if (winner!.id === 'auth-token' && (loser.id === 'api-key' || loser.id === 'api-key-fd' || loser.id === 'api-key-helper')) {
      conflicts.push(`${loser.label} is sent too (x-api-key) beside ANTHROPIC_AUTH_TOKEN (Authorization): two credentials in one request; keep one`);
    } else if ((winner!.id === 'api-key' || winner!.id === 'api-key-fd') && loser.id === 'api-key-helper') {
      conflicts.push(`${loser.label} is sent too (Authorization) beside ${winner!.label} (x-api-key): two credentials in one request; keep one`);
    } else {
      shadowings.push(`${loser.label} is not used: ${winner!.label} outranks it`);
    }
  }

  const installedId = { 'credentials-file': 'credentials-file', 'oauth-token': 'oauth-token', 'api-key': 'api-key' } as const;
  const installedShadowed = inputs.installed !== undefined && winner?.id !== installedId[inputs.installed];
  if (inputs.installed && !winner)
    shadowings.push(`no credential at all reaches Claude Code, although claude-entry installed ${describeInstalled(inputs.installed)}`);
  shadowings.push(...conflicts);
  const question = keyAsked
    ? `an interactive session stops at Claude Code's question "Detected a custom API key ... Do you want to use this API key?" for ANTHROPIC_API_KEY, which claude-entry did not deliver; its default, No, uses ${winner ? winner.label : 'nothing'}: deliver the key through claude-entry (the chain, or CLAUDE_ENTRY_ENV_ANTHROPIC_API_KEY), which approves it, or run claude -p`
    : undefined;
  return { winner, shadowings, installedShadowed, conflicts, question };
}

export function describeInstalled(installed: NonNullable<InstalledLogin>): string {
  return installed === 'credentials-file' ? 'a credentials file' : installed === 'oauth-token' ? 'CLAUDE_CODE_OAUTH_TOKEN' : 'ANTHROPIC_API_KEY';
}

/** The lines doctor and check print: one for the winner, one per shadowing. */
export function describeAuth(picture: AuthPicture): string[] {
  const lines = [
    picture.winner
      ? `Claude Code will use: ${picture.winner.label} (${picture.winner.sentAs})`
      : 'Claude Code will use: nothing (it would say "Not logged in")',
  ];
  for (const s of picture.shadowings) lines.push(`shadowing: ${s}`);
  if (picture.question) lines.push(`question: ${picture.question}`);
  return lines;
}
