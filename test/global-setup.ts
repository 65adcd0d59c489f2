// Installs the Node 18/22/24 binaries the compatibility tests use, once, when missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export default function setup(): void {
  const dir = path.resolve(__dirname, '..', 'tools', 'nodes');
  if (existsSync(path.join(dir, 'node_modules', 'node24', 'bin', 'node'))) return;
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
}
