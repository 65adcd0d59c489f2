/**
 * The release workflow (.github/workflows/release.yml), checked the ways that can be checked
 * without GitHub: GitHub's own parser and schema (@actions/workflow-parser) accept it; its jobs
 * do what the README promises (tests first, both platforms, SBOM and provenance, npm with
 * provenance, the files and their checksums); and its shell steps, run here on this checkout,
 * accept the tag that matches package.json and CHANGELOG.md and refuse one that does not.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers.js';
import { validateWorkflow } from '../examples/schemas.js';

const FILE = path.join(ROOT, '.github', 'workflows', 'release.yml');
const text = fs.readFileSync(FILE, 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const workflow = parse(text) as any;
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

type Step = { name?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
const steps = (job: string): Step[] => workflow.jobs[job].steps as Step[];
const uses = (job: string, action: string) => steps(job).find((s) => s.uses?.startsWith(`${action}@`));
const runs = (job: string) =>
  steps(job)
    .map((s) => s.run ?? '')
    .join('\n');

/** Run one of the workflow's `run:` scripts with bash, as the runner would, in `cwd`. */
function runStep(script: string, cwd: string, env: Record<string, string>) {
  return spawnSync('bash', ['-e', '-c', script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
}

describe('.github/workflows/release.yml', () => {
  test("GitHub's parser accepts it, and rejects it broken", async () => {
    expect(await validateWorkflow('release.yml', text)).toEqual([]);
    expect(await validateWorkflow('broken.yml', text.replace('secrets.GITHUB_TOKEN', 'secret.GITHUB_TOKEN'))).not.toEqual([]);
    expect(await validateWorkflow('broken.yml', text.replace('runs-on: ubuntu-24.04', 'runs-on: ubuntu-24.04\n    step: []'))).not.toEqual([]);
  });

  test('on a version tag only; tests, then build, then image and npm, then the release', () => {
    expect(Object.keys(workflow.on)).toEqual(['push']);
    expect(workflow.on.push.branches).toBeUndefined();
    expect(workflow.on.push.tags).toContain('v[0-9]+.[0-9]+.[0-9]+');
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.jobs.build.needs).toBe('test');
    expect(workflow.jobs.image.needs).toBe('build');
    expect(workflow.jobs.npm.needs).toBe('build');
    expect(workflow.jobs.release.needs).toEqual(['image', 'npm']);
    expect(runs('test')).toMatch(/bash \.ci\/run/);
    expect(runs('build')).toMatch(/npm run build/);
    expect(runs('build')).toMatch(/node build\/sea\.mjs x64 arm64/);
  });

  test('the image: Dockerfile.release for amd64 and arm64, pushed to ghcr.io with OCI labels, SBOM and provenance', () => {
    const build = uses('image', 'docker/build-push-action')!;
    expect(build.with).toMatchObject({ file: 'Dockerfile.release', push: true, sbom: true, provenance: 'mode=max' });
    expect(String(build.with!.platforms).split(',')).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build.with!.labels).toBe('${{ steps.meta.outputs.labels }}');
    expect(uses('image', 'docker/metadata-action')!.with!.images).toBe('ghcr.io/${{ github.repository_owner }}/claude-entry');
    expect(uses('image', 'docker/setup-qemu-action')).toBeDefined();
    expect(workflow.jobs.image.permissions).toMatchObject({ packages: 'write', 'id-token': 'write' });
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile.release'), 'utf8')).toMatch(/^FROM scratch AS standalone-amd64$/m);
  });

  test('npm with provenance; the GitHub release with the three files and SHA256SUMS', () => {
    expect(runs('npm')).toMatch(/npm publish --provenance --access public/);
    expect(workflow.jobs.npm.permissions['id-token']).toBe('write');
    expect(runs('release')).toMatch(
      /gh release create "\$GITHUB_REF_NAME".* dist\/claude-entry dist\/claude-entry-linux-x64 dist\/claude-entry-linux-arm64 dist\/SHA256SUMS/s,
    );
    expect(workflow.jobs.release.permissions.contents).toBe('write');
  });

  test("its tag check passes for package.json's version and fails for another", () => {
    const check = steps('test').find((s) => s.name?.startsWith('The tag is'))!.run!;
    expect(runStep(check, ROOT, { GITHUB_REF_NAME: `v${version}` }).status).toBe(0);
    const wrong = runStep(check, ROOT, { GITHUB_REF_NAME: 'v99.0.0' });
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toMatch(/::error::tag v99\.0\.0 is not v/);
  });

  test("its notes step writes the changelog's section for the version, and the checksums", () => {
    const dir = fs.mkdtempSync(path.join('/tmp', 'ce-release-'));
    try {
      fs.mkdirSync(path.join(dir, 'dist'));
      for (const f of ['claude-entry', 'claude-entry-linux-x64', 'claude-entry-linux-arm64']) fs.writeFileSync(path.join(dir, 'dist', f), f);
      fs.copyFileSync(path.join(ROOT, 'CHANGELOG.md'), path.join(dir, 'CHANGELOG.md'));
      const notes = steps('release').find((s) => s.name === 'Checksums and release notes')!.run!;
      const r = runStep(notes, dir, { GITHUB_REF_NAME: `v${version}` });
      expect(r.status, r.stderr).toBe(0);
      const written = fs.readFileSync(path.join(dir, 'notes.md'), 'utf8');
      expect(written.trim().length).toBeGreaterThan(0);
      expect(written).not.toMatch(/^## \[/m); // this version's section only
      expect(
        fs
          .readFileSync(path.join(dir, 'dist', 'SHA256SUMS'), 'utf8')
          .trim()
          .split('\n'),
      ).toHaveLength(3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
