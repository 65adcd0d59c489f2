/**
 * `claude-entry export`: on a developer's machine, read the local login and print it in the
 * form a deployment takes (or store it at a reference). The one command whose purpose is to
 * print a secret: only to stdout, only the payload, never in a log line.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { delivered, parsePayload, secretsOf, type Credential } from '../payload.js';
import { readSecretFile } from '../sources/file.js';

export type ExportFormat = 'b64' | 'json' | 'env';

export interface ExportOptions {
  /** A file path, or `keychain`; default: the local login file, then the macOS keychain. */
  from?: string;
  format: ExportFormat;
}

export const KEYCHAIN_SERVICE = 'Claude Code-credentials';

export interface Exported {
  credential: Credential;
  /** The payload as a deployment takes it: the credentials JSON text, or the token. */
  payload: string;
  from: string;
}

export function readLocalLogin(options: Pick<ExportOptions, 'from'>, env: NodeJS.ProcessEnv): Exported {
  if (options.from && options.from !== 'keychain') {
    const raw = readSecretFile(options.from, options.from);
    return toExported(parsePayload(raw, options.from), options.from);
  }
  const home = env.HOME || os.homedir();
  const file = path.join(env.CLAUDE_CONFIG_DIR || path.join(home, '.claude'), '.credentials.json');
  if (options.from !== 'keychain' && fs.existsSync(file)) {
    return toExported(parsePayload(readSecretFile(file, file), file), file);
  }
  const where = `the keychain item "${KEYCHAIN_SERVICE}"`;
  let text: string;
  try {
    text = execFileSync('security', ['find-generic-password', '-s', KEYCHAIN_SERVICE, '-w'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(
        `no local login found: ${file} does not exist and there is no macOS keychain here; run \`claude\` and log in first, or give --from FILE`,
      );
    }
    throw new ConfigError(
      `no local login found in ${where} (security exited ${(error as { status?: number }).status ?? code}); run \`claude\` and log in first`,
    );
  }
  return toExported(parsePayload(text, where), where);
}

function toExported(credential: Credential, from: string): Exported {
  return { credential, payload: delivered(credential).payload, from };
}

export function formatExport(exported: Exported, format: ExportFormat): string {
  const { variable, payload, fileText } = delivered(exported.credential);
  switch (format) {
    case 'json':
      // The credentials JSON as the file holds it (indented); a token or key as it is.
      return (fileText ?? payload).trimEnd();
    case 'b64':
      return Buffer.from(payload).toString('base64');
    case 'env':
      return variable ? `${variable}=${payload}` : `CLAUDE_CREDENTIALS_B64=${Buffer.from(payload).toString('base64')}`;
  }
}

export function warnAboutSharing(exported: Exported, log: Logger): void {
  if (delivered(exported.credential).oauth?.refreshToken) {
    log.warn(
      'this login holds a refresh token, which Claude Code rotates when it refreshes: the first container to refresh invalidates it for every other copy (including this machine). Give each deployment its own login, or use a `claude setup-token` token, which does not rotate',
    );
  }
}

export async function runExport(
  options: { from?: string; to?: string; format: ExportFormat; config: { timeoutMs: number } },
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<number> {
  const exported = readLocalLogin(options, env);
  log.addSecret(exported.payload);
  for (const secret of secretsOf(exported.credential)) log.addSecret(secret);
  warnAboutSharing(exported, log);
  if (options.to) {
    const { storeAtReference } = await import('./export-to.js');
    await storeAtReference(options.to, exported.payload, { env, log, timeoutMs: options.config.timeoutMs });
    log.info(`stored the login from ${exported.from} at ${options.to}`);
    return 0;
  }
  process.stdout.write(formatExport(exported, options.format) + '\n');
  return 0;
}
