/**
 * Each link says whether it is set (isSet), without fetching; the chain and doctor ask it. Its
 * fetch agrees: an unset link's fetch throws SourceNotConfigured, a set link's never does (it
 * returns, or fails with the error that stops the chain). A link that fetches from a network
 * service names its reference (remoteRef), which doctor shows instead of fetching.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SourceNotConfigured } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { conventionalLinks, linksFor } from '../../src/sources/chain.js';
import type { SourceContext, SourceLink } from '../../src/sources/types.js';
import { FAKE, b64, credentialsJson, tempDir } from '../helpers.js';

const creds = JSON.stringify(credentialsJson());

/** A directory of this test's own: a file, an absent path and a dangling link. */
function files() {
  const dir = tempDir();
  const present = path.join(dir, 'present.json');
  fs.writeFileSync(present, creds);
  const absent = path.join(dir, 'absent.json');
  const dangling = path.join(dir, 'dangling.json');
  fs.symlinkSync(absent, dangling);
  return { present, absent, dangling };
}
type Files = ReturnType<typeof files>;

function context(env: NodeJS.ProcessEnv, credentialsPath = '/claude-entry-no-such-dir/.credentials.json'): SourceContext {
  return { env, log: createLogger({ level: 'silent' }), timeoutMs: 1000, credentialsPath };
}

function conventional(name: string, ctx: SourceContext): SourceLink {
  const link = conventionalLinks(ctx).find((l) => l.describe === name || l.describe.startsWith(`${name} `));
  if (!link) throw new Error(`no conventional link ${name}`);
  return link;
}

async function fetchOutcome(link: SourceLink): Promise<'fetched' | 'not set' | 'failed'> {
  try {
    await link.fetch();
    return 'fetched';
  } catch (error) {
    return error instanceof SourceNotConfigured ? 'not set' : 'failed';
  }
}

describe('isSet, and fetch agreeing with it', () => {
  it.each<[string, (f: Files) => SourceLink, boolean, 'fetched' | 'failed' | undefined]>([
    ['a variable, set', () => conventional('CLAUDE_CREDENTIALS_B64', context({ CLAUDE_CREDENTIALS_B64: b64(creds) })), true, 'fetched'],
    ['a variable, empty', () => conventional('CLAUDE_CREDENTIALS_B64', context({ CLAUDE_CREDENTIALS_B64: '' })), false, undefined],
    ['a variable, unset', () => conventional('CLAUDE_CODE_OAUTH_TOKEN', context({})), false, undefined],
    ['a _FILE variable naming a file', (f) => conventional('CLAUDE_CREDENTIALS_FILE', context({ CLAUDE_CREDENTIALS_FILE: f.present })), true, 'fetched'],
    // Set, and broken: the chain stops there rather than pass on.
    ['a _FILE variable naming no file', (f) => conventional('CLAUDE_CREDENTIALS_FILE', context({ CLAUDE_CREDENTIALS_FILE: f.absent })), true, 'failed'],
    ['a _FILE variable, unset', () => conventional('ANTHROPIC_API_KEY_FILE', context({})), false, undefined],
    ['the credentials file in place', (f) => conventional(f.present, context({}, f.present)), true, 'fetched'],
    ['the credentials file in place, absent', (f) => conventional(f.absent, context({}, f.absent)), false, undefined],
    // A link there is set, and refused when read (never followed).
    ['the credentials file in place, a dangling link', (f) => conventional(f.dangling, context({}, f.dangling)), true, 'failed'],
    ['env:NAME, set', () => linksFor('env:MY_LOGIN', context({ MY_LOGIN: creds }))[0]!, true, 'fetched'],
    ['env:NAME, unset', () => linksFor('env:MY_LOGIN', context({}))[0]!, false, undefined],
    ['env:NAME#key, unset', () => linksFor('env:MY_LOGIN#claude', context({}))[0]!, false, undefined],
    ['env:NAME#key, set', () => linksFor('env:MY_LOGIN#claude', context({ MY_LOGIN: JSON.stringify({ claude: FAKE.oauthToken }) }))[0]!, true, 'fetched'],
    ['file:/path, present', (f) => linksFor(`file:${f.present}`, context({}))[0]!, true, 'fetched'],
    // A reference named outright is set: its file missing is an error, not a pass.
    ['file:/path, absent', (f) => linksFor(`file:${f.absent}`, context({}))[0]!, true, 'failed'],
    ['/path#key, absent', (f) => linksFor(`${f.absent}#claude`, context({}))[0]!, true, 'failed'],
    ['a cloud variable, unset', () => conventional('CLAUDE_CREDENTIALS_AWS_SECRET', context({})), false, undefined],
  ])('%s', async (_name, make, set, outcome) => {
    const link = make(files());
    expect(link.isSet()).toBe(set);
    expect(await fetchOutcome(link)).toBe(set ? outcome : 'not set');
  });
});

describe('remoteRef: what doctor names instead of fetching', () => {
  it.each<[string, (f: Files) => SourceLink, boolean, string | undefined]>([
    [
      'CLAUDE_CREDENTIALS_AWS_SECRET, a bare name',
      () => conventional('CLAUDE_CREDENTIALS_AWS_SECRET', context({ CLAUDE_CREDENTIALS_AWS_SECRET: 'prod/claude' })),
      true,
      'aws-sm:prod/claude',
    ],
    [
      'CLAUDE_CREDENTIALS_GCP_SECRET',
      () => conventional('CLAUDE_CREDENTIALS_GCP_SECRET', context({ CLAUDE_CREDENTIALS_GCP_SECRET: 'projects/p/secrets/s' })),
      true,
      'projects/p/secrets/s',
    ],
    ['CLAUDE_CREDENTIALS_AZURE_SECRET, unset', () => conventional('CLAUDE_CREDENTIALS_AZURE_SECRET', context({})), false, undefined],
    ['aws-sm: in CLAUDE_ENTRY_SOURCE', () => linksFor('aws-sm:prod/claude#token', context({}))[0]!, true, 'aws-sm:prod/claude#token'],
    [
      'an Azure URL in CLAUDE_ENTRY_SOURCE',
      () => linksFor('https://my-vault.vault.azure.net/secrets/claude', context({}))[0]!,
      true,
      'https://my-vault.vault.azure.net/secrets/claude',
    ],
    ['file: is read, not named', (f) => linksFor(`file:${f.present}`, context({}))[0]!, true, undefined],
    ['env: is read, not named', () => linksFor('env:X', context({ X: 'x' }))[0]!, true, undefined],
  ])('%s', (_name, make, set, ref) => {
    const link = make(files());
    expect(link.isSet()).toBe(set);
    expect(link.remoteRef).toBe(ref);
  });
});
