/**
 * Dockerfile.example, parsed by a real Dockerfile parser (dockerfile-ast): a multi-stage
 * build whose first stage builds the bundle, an agent image that installs Claude Code, a
 * non-root user, COPY --from, tini in front, ENTRYPOINT, CMD and HEALTHCHECK. The first
 * stage is also run, on exactly the files it copies, to prove they are enough to build.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT } from '../helpers.js';
import { imageUser, readDockerfile } from './dockerfile.js';

const image = readDockerfile();
const [build, ...rest] = image.stages;
const final = image.final;

describe('Dockerfile.example, parsed', () => {
  test('BuildKit syntax directive', () => {
    expect(image.directives.syntax).toMatch(/^docker\/dockerfile:1/);
  });

  test('stages: build the bundle, carry the one file, the agent image', () => {
    expect(image.stages.map((s) => s.name)).toEqual(['build', 'claude-entry', 'agent']);
    expect(build!.from).toMatch(/^node:\d+/);
    expect(image.runs(build!)).toEqual(expect.arrayContaining([expect.stringMatching(/node build\/lean-deps\.mjs && npm install\b/), 'npm run build']));
    const [carrier] = rest;
    expect(carrier!.from).toBe('scratch');
    expect(image.copies(carrier!)).toEqual([{ from: 'build', sources: ['/src/dist/claude-entry'], dest: '/claude-entry' }]);
    expect(final.from).toMatch(/^node:\d+/);
  });

  test('the agent image installs tini and the Claude Code version the tests run', () => {
    const runs = image.runs(final).join('\n');
    expect(runs).toMatch(/apt-get install [^&]*\btini\b/);
    expect(runs).toMatch(/npm install -g "?@anthropic-ai\/claude-code@\$\{CLAUDE_CODE_VERSION\}/);
    const arg = final.instructions.find((i) => i.getKeyword() === 'ARG' && /^CLAUDE_CODE_VERSION=/.test(i.getArgumentsContent() ?? ''));
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(arg?.getArgumentsContent()).toBe(`CLAUDE_CODE_VERSION=${pkg.devDependencies['@anthropic-ai/claude-code']}`);
  });

  test('a non-root user with a home, named by CLAUDE_ENTRY_USER', () => {
    expect(image.runs(final).join('\n')).toMatch(/useradd --create-home --uid \d+ --user-group/);
    const user = imageUser(image);
    expect(user.uid).toBeGreaterThan(0);
    expect(image.env.CLAUDE_ENTRY_USER).toBe(user.name);
    // USER is absent (claude-entry starts as root and drops) or the same non-root user.
    expect(image.user === undefined || image.user === user.name || image.user === String(user.uid)).toBe(true);
    expect(image.workdir).toBe(image.env.CLAUDE_ENTRY_TRUST);
  });

  test('COPY --from puts claude-entry on PATH; tini in front; exec-form ENTRYPOINT and CMD', () => {
    expect(image.copies(final)).toContainEqual({ from: 'claude-entry', sources: ['/claude-entry'], dest: '/usr/local/bin/claude-entry' });
    expect(image.entrypoint).toEqual(['tini', '--', 'claude-entry', '--']);
    expect(image.cmd).toEqual(['claude', '-p', 'Summarise this repository in three lines.']);
  });

  test('claude-entry warm runs after the COPY, as root (the owner of the file it caches)', () => {
    const runs = image.runs(final);
    expect(runs).toContain('["claude-entry", "warm"]');
    const at = (keyword: string, text: RegExp) => final.instructions.findIndex((i) => i.getKeyword() === keyword && text.test(i.getArgumentsContent() ?? ''));
    expect(at('RUN', /"warm"/)).toBeGreaterThan(at('COPY', /\/usr\/local\/bin\/claude-entry/));
    expect(at('USER', /./)).toBe(-1);
  });

  test('HEALTHCHECK runs claude-entry check', () => {
    expect(image.healthcheck).toEqual({
      options: { interval: '5m', timeout: '10s', 'start-period': '30s', retries: '3' },
      command: ['claude-entry', 'check'],
    });
  });

  test('no secret in the image: no credential variable in ENV or ARG', () => {
    const names = [
      ...Object.keys(image.env),
      ...image.stages.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === 'ARG').map((i) => (i.getArgumentsContent() ?? '').split('=')[0]!)),
    ];
    expect(names.filter((n) => /TOKEN|KEY|CREDENTIALS|SECRET/.test(n))).toEqual([]);
  });
});

describe('the first stage builds the bundle from exactly what it copies', () => {
  test('COPY sources into WORKDIR, the install (stood in for by node_modules), then its RUN', () => {
    const workdir = build!.instructions
      .find((i) => i.getKeyword() === 'WORKDIR')
      ?.getArgumentsContent()
      ?.trim();
    expect(workdir).toBe('/src');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-stage-'));
    try {
      for (const copy of image.copies(build!)) {
        expect(copy.from).toBeUndefined();
        for (const source of copy.sources) {
          const dest = copy.dest.endsWith('/') || copy.sources.length > 1 ? path.join(dir, copy.dest, path.basename(source)) : path.join(dir, copy.dest);
          fs.cpSync(path.join(ROOT, source), dest, { recursive: true });
        }
      }
      // `npm ci` installs package-lock.json's tree: this machine's node_modules is that tree.
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      for (const run of image.runs(build!)) {
        // The install step (with its --mount flags) is built for real in test/docker/.
        if (/\bnpm (ci|install)\b/.test(run)) continue;
        execFileSync('sh', ['-c', run.replace(/^(--\S+\s+)+/, '')], { cwd: dir, stdio: 'pipe', env: { ...process.env, npm_config_loglevel: 'error' } });
      }
      // what the next stage copies out of this one
      const carried = image.copies(image.stages[1]!)[0]!.sources[0]!;
      const built = path.join(dir, path.relative(workdir!, carried));
      expect(fs.statSync(built).mode & 0o111).not.toBe(0);
      const version = execFileSync(process.execPath, [built, '--version'], { encoding: 'utf8' });
      expect(version).toMatch(/^claude-entry \d+\.\d+\.\d+/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
