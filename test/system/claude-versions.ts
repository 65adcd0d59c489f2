/**
 * The Claude Code CLIs the real-CLI tests run against: the pinned release (root package.json)
 * and the newest published one (tools/claude-latest, installed by tools/claude-latest/install.sh).
 * A release that changes a dialog, a settings key or the precedence then fails a test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers';

export interface ClaudeCli {
  /** 'pinned' or 'latest'. */
  label: string;
  version: string;
  /** The directory holding `claude`, for PATH. */
  binDir: string;
  claude: string;
}

function cliAt(label: string, modules: string): ClaudeCli | undefined {
  const binDir = path.join(modules, '.bin');
  const pkg = path.join(modules, '@anthropic-ai', 'claude-code', 'package.json');
  if (!fs.existsSync(path.join(binDir, 'claude')) || !fs.existsSync(pkg)) return undefined;
  return { label, version: JSON.parse(fs.readFileSync(pkg, 'utf8')).version, binDir, claude: path.join(binDir, 'claude') };
}

const pinned = cliAt('pinned', path.join(ROOT, 'node_modules'));
const latest = cliAt('latest', path.join(ROOT, 'tools', 'claude-latest', 'node_modules'));

/** Where the newest CLI should be: tools/claude-latest/install.sh puts it there. */
export const LATEST_INSTALLED = latest !== undefined;

/** Both, when installed and different; the newest only once when they are the same release. */
export const CLAUDE_CLIS: ClaudeCli[] = [pinned, latest?.version === pinned?.version ? undefined : latest].filter((c): c is ClaudeCli => c !== undefined);
