// Installs tools/nodes (the Node 18/22/24 binaries the compatibility tests use, postject), once, when missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export default function setup(): void {
  const dir = path.resolve(__dirname, '..', 'tools', 'nodes');
  // postject: build/sea.mjs (the standalone executables the Docker tier runs)
  if (existsSync(path.join(dir, 'node_modules', 'node24', 'bin', 'node')) && existsSync(path.join(dir, 'node_modules', '.bin', 'postject'))) return;
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
}
