/**
 * What the command's Claude Code will make of the deployment, for a start (warnings, and the
 * IS_SANDBOX opt-in) and for doctor and check (lines and problems): the credential it will
 * really use (claude-auth.ts) and bypass permissions as root (root-bypass.ts). Names and
 * paths only, never a value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { claudeAuth, describeAuth, describeInstalled, isInteractiveSession, type AuthPicture, type InstalledLogin, type SettingsLayer } from './claude-auth.js';
import { apiKeyFingerprint } from './claude-json.js';
import { readClaudeSettings } from './claude-settings.js';
import type { ClaudePaths } from './home.js';
import { deliveryOf, type Credential } from './payload.js';
import { bypassRequest, rootBypass } from './root-bypass.js';
import { readSecretFile } from './sources/file.js';
import type { TargetUser } from './user.js';

export interface SurfaceInputs {
  /** The environment the command will be started with. */
  env: NodeJS.ProcessEnv;
  paths: ClaudePaths;
  /** The command's working directory (project and local settings live under it). */
  cwd: string;
  user: TargetUser;
  /** The kind of credential claude-entry delivers (or found in place). */
  kind: Credential['kind'] | undefined;
  command: string[];
  allowRootBypass: boolean;
  /** CLAUDE_ENTRY_TRUST: the directories a start marks trusted. */
  trust: string[];
  /** The settings files, when already read (readClaudeSettings); else read here. */
  settings?: SettingsLayer[];
}

export interface Surface {
  picture: AuthPicture;
  /** Lines for doctor and check: the winner, then one per shadowing. */
  lines: string[];
  /** Each a problem with its fix (check prints the lines only when there is one). */
  problems: string[];
  /** A start's warnings: only when what claude-entry installed is not what will be used. */
  startWarnings: string[];
  setSandbox: boolean;
}

export function installedOf(kind: Credential['kind'] | undefined): InstalledLogin {
  return kind && deliveryOf(kind).installs;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** .claude.json as it is now (a start merges into it), or {} when there is none or it cannot be read. */
function readClaudeJson(inputs: SurfaceInputs): Record<string, unknown> {
  try {
    const parsed = JSON.parse(readSecretFile(inputs.paths.claudeJsonPath, inputs.paths.claudeJsonPath, { as: inputs.user }).toString('utf8'));
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * customApiKeyResponses as the command will find them: .claude.json's, with the ANTHROPIC_API_KEY
 * the command is given approved, as a start approves it (install.ts).
 */
function apiKeyResponses(inputs: SurfaceInputs, claudeJson: Record<string, unknown>): { approved: string[]; rejected: string[] } {
  const responses = isObject(claudeJson.customApiKeyResponses) ? claudeJson.customApiKeyResponses : {};
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const given = inputs.env.ANTHROPIC_API_KEY && apiKeyFingerprint(inputs.env.ANTHROPIC_API_KEY);
  return {
    approved: [...list(responses.approved), ...(given ? [given] : [])],
    rejected: list(responses.rejected).filter((x) => x !== given),
  };
}

/**
 * An interactive session whose working directory no trust entry covers (the directory itself or
 * one above it; observed with both releases, a repository's subdirectory included) stops at "Do
 * you trust the files in this folder?", whose default is "No, exit".
 */
function trustQuestion(inputs: SurfaceInputs, claudeJson: Record<string, unknown>): string | undefined {
  if (!isInteractiveSession(inputs.command)) return undefined;
  const projects = isObject(claudeJson.projects) ? claudeJson.projects : {};
  const trusted = Object.entries(projects)
    .filter(([, project]) => isObject(project) && project.hasTrustDialogAccepted === true)
    .map(([dir]) => dir)
    .concat(inputs.trust);
  const covers = (dir: string) => {
    const below = path.relative(path.resolve(dir), inputs.cwd);
    return below === '' || (!below.startsWith('..') && !path.isAbsolute(below));
  };
  if (trusted.some(covers)) return undefined;
  return `an interactive session in ${inputs.cwd} stops at Claude Code's "Do you trust the files in this folder?" (default: No, exit): no trust entry covers it; set CLAUDE_ENTRY_TRUST=${inputs.cwd}`;
}

export function inspectSurface(inputs: SurfaceInputs): Surface {
  const settings = inputs.settings ?? readClaudeSettings(inputs.paths.configDir, inputs.cwd, inputs.user, undefined, inputs.command);
  const installed = installedOf(inputs.kind);
  const claudeJson = readClaudeJson(inputs);
  const picture = claudeAuth({
    env: inputs.env,
    settings,
    credentialsFile: installed === 'credentials-file' || fs.existsSync(inputs.paths.credentialsPath),
    installed,
    command: inputs.command,
    apiKeyResponses: apiKeyResponses(inputs, claudeJson),
  });
  const trust = trustQuestion(inputs, claudeJson);
  const bypass = rootBypass(bypassRequest(inputs.command, settings), inputs.user.uid, inputs.env, inputs.allowRootBypass);
  // A credential below the installed one is only information; what displaces the installed one,
  // or two credentials in one request, is a problem.
  const problems = picture.installedShadowed ? [...picture.shadowings] : [...picture.conflicts];
  if (bypass.refused) problems.push(bypass.refused);
  if (picture.question) problems.push(picture.question);
  if (trust) problems.push(trust);
  const lines = describeAuth(picture);
  if (bypass.setSandbox)
    lines.push('the command runs as root with CLAUDE_ENTRY_ALLOW_ROOT_BYPASS: IS_SANDBOX=1 is set for it, so Claude Code accepts bypass permissions');

  const startWarnings: string[] = [];
  if (picture.installedShadowed && installed) {
    const using = picture.winner ? `${picture.winner.label}` : 'nothing';
    startWarnings.push(
      `Claude Code will not use the login claude-entry installed (${describeInstalled(installed)}) but ${using}: ${picture.shadowings.join('; ')}`,
    );
  }
  if (picture.question) startWarnings.push(picture.question);
  if (trust) startWarnings.push(trust);
  if (bypass.refused) startWarnings.push(bypass.refused);
  return { picture, lines, problems, startWarnings, setSandbox: bypass.setSandbox };
}
