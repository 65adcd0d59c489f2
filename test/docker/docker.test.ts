/**
 * The Docker tier: Dockerfile.example built by a real engine, every stage, and the agent image
 * run with `docker run` as the README says, the real Claude Code CLI (2.1.330, installed by the
 * image's own `npm install -g`) talking to fakes on 127.0.0.1 (containers use --network host).
 *
 * The engine is a working DOCKER_HOST, or a dockerd of our own (test/docker/engine.ts). Where
 * none can start, the tier fails with one line saying why (CLAUDE_ENTRY_TEST_PARTIAL=1 skips it).
 * Images are made here (test/docker/images.ts): no registry is reachable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic';
import { startRefreshRig, type RefreshRig } from '../fakes/oauth-proxy';
import { FAKE_AWS_CREDENTIALS, startFakeSecretsManager } from '../fakes/aws';
import { startFakeAzure } from '../fakes/azure';
import { startFakeSecretManager } from '../fakes/gcp';
import { makeTestCa } from '../fakes/tls';
import { FAKE, ROOT, b64, credentialsJson, expectNoSecret, runProcess } from '../helpers';
import { entryLines, expectApiKey, expectOAuth } from '../system/cli-assertions';
import { engineProblem, dockerTierOptions, mustSkipWithout, startEngine, until, type Engine } from './engine';
import { META_PREFIX } from '../needs';
import { baseImage, buildContext, buildDockerfile, buildExample, docker, imageSize, nodeImage } from './images';

const reason = engineProblem();
const AGENT = 'claude-entry-test/agent:latest';
const HOME = '/home/agent';
const SECRETS = [FAKE.accessToken, FAKE.refreshToken, FAKE.oauthToken, FAKE.apiKey];
const QUIET = { DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1' };

/** A temp dir others (uid 1000 in the container) can traverse; removed when the test ends. */
function hostDir(): string {
  const dir = fs.mkdtempSync(path.join('/tmp', 'ce-docker-test-'));
  fs.chmodSync(dir, 0o755);
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The container's command (`sleep infinity`) is running: claude-entry has handed over. */
async function commandRuns(e: Engine, id: string): Promise<boolean> {
  return /^\s*\d+\s+sleep infinity\s*$/m.test((await docker(e, ['top', id, '-o', 'pid,args'], { check: false })).stdout);
}

describe('Docker tier (a real engine)', dockerTierOptions(reason), () => {
  let e: Engine;
  let base: string;
  const figures: string[] = [];

  let started: Engine | string | undefined;

  beforeAll(async () => {
    if (reason) throw new Error(`Docker tier: no engine: ${reason}`);
    started = await startEngine();
    if (typeof started === 'string') throw new Error(`Docker tier: no engine: ${started}`);
    e = started;
    const t0 = Date.now();
    base = await baseImage(e);
    await nodeImage(e, base);
    figures.push(`base images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 900_000);

  afterAll(async () => {
    if (figures.length) console.log(`Docker tier figures:\n  ${figures.join('\n  ')}`);
    if (started && typeof started !== 'string') await started.close();
  }, 60_000);

  /** `docker run --rm --network host` with these env names passed by name (values stay out of argv). */
  async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000) {
    const names = Object.keys(env).flatMap((name) => ['-e', name]);
    return docker(e, ['run', '--rm', '--network', 'host', ...names, ...args], { env, check: false, timeoutMs });
  }

  async function fakeApi(): Promise<{ fake: FakeAnthropic; reply: string }> {
    const reply = `Hi from the fake in a container, ${randomUUID().slice(0, 8)}.`;
    const fake = await startFakeAnthropic({ replyText: reply });
    onTestFinished(() => fake.close());
    return { fake, reply };
  }

  describe('Dockerfile.example, built for real', () => {
    it('every stage: the build, the one-file carrier (exactly /claude-entry), the agent image', async () => {
      const out = hostDir();
      const t0 = Date.now();
      await buildExample(e, { target: 'claude-entry', output: out });
      const carrier = Date.now() - t0;
      expect(fs.readdirSync(out)).toEqual(['claude-entry']);
      const file = path.join(out, 'claude-entry');
      expect(fs.statSync(file).mode & 0o111).not.toBe(0);
      expect(fs.readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);

      const t1 = Date.now();
      const built = await buildExample(e, { tag: AGENT });
      figures.push(
        `Dockerfile.example: carrier stage ${(carrier / 1000).toFixed(1)} s, agent image ${((Date.now() - t1) / 1000).toFixed(1)} s (cached layers reused)`,
      );
      void built;
      figures.push(`agent image: ${((await imageSize(e, AGENT)) / 1e6).toFixed(1)} MB`);

      const inside = await run([
        '--entrypoint',
        'sh',
        AGENT,
        '-c',
        'id agent; for c in tini claude claude-entry; do command -v $c; done; claude-entry --version; claude --version; ls -l /usr/local/bin/claude-entry.v8cache; CLAUDE_CODE_OAUTH_TOKEN=x claude-entry doctor | grep "code cache"',
      ]);
      expect(inside.code, inside.stderr).toBe(0);
      expect(inside.stdout).toMatch(/uid=1000\(agent\) gid=1000\(agent\)/);
      expect(inside.stdout).toContain('/usr/local/bin/claude-entry');
      expect(inside.stdout).toMatch(/^claude-entry \d+\.\d+\.\d+/m);
      expect(inside.stdout).toMatch(/2\.1\.330/);
      // RUN claude-entry warm: the image's starts compile from the code cache made at build
      expect(inside.stdout).toMatch(/^-rw-r--r-- 1 root root \d+ .* \/usr\/local\/bin\/claude-entry\.v8cache$/m);
      expect(inside.stdout).toMatch(/code cache: \/usr\/local\/bin\/claude-entry\.v8cache, made by claude-entry warm for this build and Node v22\./);
      // the image's claude-entry is the one built from this source
      const ours = await run(['--entrypoint', 'cat', AGENT, '/usr/local/bin/claude-entry']);
      expect(ours.stdout).toBe(fs.readFileSync(file, 'utf8'));
    }, 900_000);
  });

  it('the build stage is lean: esbuild and the SDKs, none of the test tools', async () => {
    await buildExample(e, { target: 'build', tag: 'claude-entry-test/build:latest' });
    const r = await run([
      '--entrypoint',
      'sh',
      'claude-entry-test/build:latest',
      '-c',
      'ls node_modules node_modules/@anthropic-ai node_modules/@aws-sdk 2>&1; du -sm node_modules',
    ]);
    expect(r.stdout).toMatch(/^esbuild$/m);
    expect(r.stdout).toMatch(/^client-secrets-manager$/m);
    for (const heavy of ['vitest', 'kubernetes-models', 'dclint', 'claude-code', 'typescript']) expect(r.stdout).not.toMatch(new RegExp(`^${heavy}$`, 'm'));
    figures.push(
      `build stage: node_modules ${/^(\d+)\s+node_modules$/m.exec(r.stdout)?.[1]} MB, image ${((await imageSize(e, 'claude-entry-test/build:latest')) / 1e6).toFixed(1)} MB`,
    );
  }, 600_000);

  describe('every credential path in the README, through docker run and the real CLI', () => {
    const json = () => JSON.stringify(credentialsJson());
    type Case = { name: string; env?: () => Record<string, string>; files?: () => Record<string, string>; token: string; kind: 'oauth' | 'key' };
    const cases: Case[] = [
      { name: 'CLAUDE_CREDENTIALS_B64', env: () => ({ CLAUDE_CREDENTIALS_B64: b64(json()) }), token: FAKE.accessToken, kind: 'oauth' },
      { name: 'CLAUDE_CREDENTIALS_JSON', env: () => ({ CLAUDE_CREDENTIALS_JSON: json() }), token: FAKE.accessToken, kind: 'oauth' },
      {
        name: 'CLAUDE_CREDENTIALS_FILE',
        env: () => ({ CLAUDE_CREDENTIALS_FILE: '/run/secrets/creds.json' }),
        files: () => ({ '/run/secrets/creds.json': json() }),
        token: FAKE.accessToken,
        kind: 'oauth',
      },
      { name: 'CLAUDE_CODE_OAUTH_TOKEN', env: () => ({ CLAUDE_CODE_OAUTH_TOKEN: FAKE.oauthToken }), token: FAKE.oauthToken, kind: 'oauth' },
      {
        name: 'CLAUDE_CODE_OAUTH_TOKEN_FILE',
        env: () => ({ CLAUDE_CODE_OAUTH_TOKEN_FILE: '/run/secrets/token' }),
        files: () => ({ '/run/secrets/token': `${FAKE.oauthToken}\n` }),
        token: FAKE.oauthToken,
        kind: 'oauth',
      },
      { name: 'ANTHROPIC_API_KEY', env: () => ({ ANTHROPIC_API_KEY: FAKE.apiKey }), token: FAKE.apiKey, kind: 'key' },
      {
        name: 'ANTHROPIC_API_KEY_FILE',
        env: () => ({ ANTHROPIC_API_KEY_FILE: '/run/secrets/key' }),
        files: () => ({ '/run/secrets/key': FAKE.apiKey }),
        token: FAKE.apiKey,
        kind: 'key',
      },
      {
        name: 'CLAUDE_ENTRY_SOURCE=env:MY_LOGIN',
        env: () => ({ CLAUDE_ENTRY_SOURCE: 'env:MY_LOGIN', MY_LOGIN: b64(json()) }),
        token: FAKE.accessToken,
        kind: 'oauth',
      },
      // A Compose secret: the host file root-owned and 0400, bind-mounted read-only.
      {
        name: '/run/secrets/claude-credentials (Compose-style secret, root 0400, read-only)',
        files: () => ({ '/run/secrets/claude-credentials': json() }),
        token: FAKE.accessToken,
        kind: 'oauth',
      },
    ];

    it.each(cases)(
      '$name',
      async (c) => {
        const { fake, reply } = await fakeApi();
        const dir = hostDir();
        const mounts = Object.entries(c.files?.() ?? {}).flatMap(([target, content], i) => {
          const file = path.join(dir, `secret-${i}`);
          fs.writeFileSync(file, content, { mode: 0o400 });
          fs.chownSync(file, 0, 0);
          return ['-v', `${file}:${target}:ro`];
        });
        const r = await run([...mounts, AGENT], { ...c.env?.(), ANTHROPIC_BASE_URL: fake.url, ...QUIET });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(reply);
        const [message] = fake.messages();
        expect(message, r.stderr).toBeDefined();
        if (c.kind === 'oauth') expectOAuth(message!, c.token);
        else expectApiKey(message!, c.token);
        expect(entryLines(r.stderr)).toMatch(/^claude-entry: /m);
        expectNoSecret(entryLines(r.stderr), SECRETS);
      },
      180_000,
    );
  });

  describe('the cloud secret managers in the README, from a container (the fakes on 127.0.0.1)', () => {
    async function expectAnswered(args: string[], env: Record<string, string>, token: string) {
      const { fake, reply } = await fakeApi();
      const r = await run([...args, AGENT], { ...env, ANTHROPIC_BASE_URL: fake.url, ...QUIET });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(reply);
      expectOAuth(fake.messages()[0]!, token);
      return r;
    }

    it('CLAUDE_CREDENTIALS_AWS_SECRET: a credentials JSON from AWS Secrets Manager', async () => {
      const store = await startFakeSecretsManager({ region: 'eu-west-1' });
      onTestFinished(() => store.close());
      store.putSecret('prod/claude', JSON.stringify(credentialsJson()));
      const r = await expectAnswered(
        [],
        {
          CLAUDE_CREDENTIALS_AWS_SECRET: 'prod/claude',
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
          AWS_ENDPOINT_URL: store.url,
          AWS_EC2_METADATA_DISABLED: 'true',
        },
        FAKE.accessToken,
      );
      expect(store.requests.map((q) => [q.operation, q.status])).toEqual([['GetSecretValue', 200]]);
      expectNoSecret(entryLines(r.stderr), [...SECRETS, FAKE_AWS_CREDENTIALS.secretAccessKey]);
    }, 180_000);

    it('CLAUDE_ENTRY_SOURCE=gcp-sm:...: a setup-token token from GCP Secret Manager', async () => {
      const store = await startFakeSecretManager();
      onTestFinished(() => store.close());
      store.addVersion('projects/p/secrets/claude-token', `${FAKE.oauthToken}\n`);
      await expectAnswered([], { CLAUDE_ENTRY_SOURCE: 'gcp-sm:projects/p/secrets/claude-token', CLAUDE_ENTRY_GCP_ENDPOINT: store.endpoint }, FAKE.oauthToken);
      expect(store.calls.map((c) => c.method)).toEqual(['AccessSecretVersion']);
    }, 180_000);

    it('CLAUDE_ENTRY_SOURCE=https://...vault...#claude: Azure Key Vault over TLS with a private CA, managed identity', async () => {
      const ca = makeTestCa();
      onTestFinished(() => ca.cleanup());
      const vault = await startFakeAzure({ ca });
      onTestFinished(() => vault.close());
      vault.setSecret('claude', JSON.stringify({ claude: credentialsJson() }));
      const dir = hostDir();
      const caCopy = path.join(dir, 'ca.pem');
      fs.copyFileSync(ca.caFile, caCopy);
      fs.chmodSync(caCopy, 0o644);
      await expectAnswered(
        ['-v', `${caCopy}:/etc/claude-entry-test-ca.pem:ro`],
        {
          CLAUDE_ENTRY_SOURCE: `${vault.secretUrl('claude')}#claude`,
          NODE_EXTRA_CA_CERTS: '/etc/claude-entry-test-ca.pem',
          ...vault.identityEnv,
        },
        FAKE.accessToken,
      );
      expect(vault.requests.map((q) => [q.authorized, q.status])).toEqual([
        [false, 401],
        [true, 200],
      ]);
    }, 180_000);
  });

  describe('stop signals and exit codes', () => {
    /** Start detached, wait until the command runs, then return the container id. */
    async function startSleeping(args: string[]): Promise<string> {
      const env = { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) };
      const r = await docker(e, ['run', '-d', '--network', 'host', '-e', 'CLAUDE_CREDENTIALS_B64', ...args], { env });
      const id = r.stdout.trim();
      onTestFinished(async () => void (await docker(e, ['rm', '-f', id], { check: false })));
      // the command itself, not PID 1's `claude-entry -- sleep infinity`: a signal sent while
      // Node is still starting is not ours to handle yet
      if (await until(async () => commandRuns(e, id), 120_000)) return id;
      throw new Error(`the command never started in ${id}: ${(await docker(e, ['logs', id], { check: false })).stderr}`);
    }
    const exitCode = async (id: string) => Number((await docker(e, ['wait', id])).stdout.trim());

    const entrypoints: [string, string[]][] = [
      ['tini as PID 1 (the image as built)', [AGENT, 'sleep', 'infinity']],
      ['claude-entry as PID 1', ['--entrypoint', 'claude-entry', AGENT, '--', 'sleep', 'infinity']],
      ['docker run --init', ['--init', '--entrypoint', 'claude-entry', AGENT, '--', 'sleep', 'infinity']],
    ];

    it.each(entrypoints)(
      'docker stop gives 143 well inside the grace period: %s',
      async (what, args) => {
        const id = await startSleeping(args);
        const t0 = Date.now();
        // A 60 s grace period: a signal that got lost would end in SIGKILL, 137.
        await docker(e, ['stop', '-t', '60', id], { timeoutMs: 90_000 });
        const took = Date.now() - t0;
        expect(await exitCode(id)).toBe(143);
        figures.push(`docker stop, ${what}: 143 after ${took} ms`);
      },
      120_000,
    );

    it.each([
      ['claude-entry as PID 1', ['--entrypoint', 'claude-entry', AGENT, '--', 'sleep', 'infinity']],
      // Found here: with a terminal, the shim took docker's SIGINT for a Ctrl-C and dropped it.
      ['claude-entry as PID 1 with -t', ['-t', '--entrypoint', 'claude-entry', AGENT, '--', 'sleep', 'infinity']],
      ['tini as PID 1 with -t', ['-t', AGENT, 'sleep', 'infinity']],
    ])(
      'docker kill -s INT reaches the command: 130, %s',
      async (_what, args) => {
        const id = await startSleeping(args);
        await docker(e, ['kill', '-s', 'INT', id]);
        expect(await exitCode(id)).toBe(130);
      },
      120_000,
    );

    it("exit codes pass through: the command's own, 127 for a missing command", async () => {
      const env = { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) };
      expect((await run([AGENT, 'sh', '-c', 'exit 7'], env)).code).toBe(7);
      expect((await run(['--entrypoint', 'claude-entry', AGENT, '--', 'sh', '-c', 'exit 7'], env)).code).toBe(7);
      const missing = await run([AGENT, 'no-such-command'], env);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toMatch(/no-such-command: command not found/);
    }, 120_000);
  });

  describe('users, read-only root, health', () => {
    it('--user 1000:1000: writes as itself, the CLI answers', async () => {
      const { fake, reply } = await fakeApi();
      const r = await run(['--user', '1000:1000', AGENT, 'sh', '-c', 'claude -p hi && stat -c "%u %a" ~/.claude/.credentials.json'], {
        CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())),
        ANTHROPIC_BASE_URL: fake.url,
        ...QUIET,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(reply);
      expect(r.stdout).toMatch(/^1000 600$/m);
      expectOAuth(fake.messages()[0]!, FAKE.accessToken);
    }, 120_000);

    it('--read-only with a tmpfs home: logged in, the CLI answers', async () => {
      const { fake, reply } = await fakeApi();
      const r = await run(
        ['--read-only', '--tmpfs', `${HOME}:uid=1000,gid=1000,mode=0755`, '--tmpfs', '/tmp', AGENT, 'sh', '-c', 'claude -p hi && ls -a ~/.claude'],
        {
          CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())),
          ANTHROPIC_BASE_URL: fake.url,
          ...QUIET,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(reply);
      expect(r.stdout).toContain('.credentials.json');
    }, 120_000);

    async function healthOf(args: string[], env: Record<string, string>, want: string): Promise<{ status: string; output: string }> {
      const names = Object.keys(env).flatMap((n) => ['-e', n]);
      const id = (
        await docker(e, ['run', '-d', '--network', 'host', '--health-interval=1s', '--health-start-period=1ms', '--health-retries=1', ...names, ...args], {
          env,
        })
      ).stdout.trim();
      onTestFinished(async () => void (await docker(e, ['rm', '-f', id], { check: false })));
      let status = '';
      await until(async () => (status = (await docker(e, ['inspect', '-f', '{{.State.Health.Status}}', id])).stdout.trim()) === want, 120_000);
      const log = JSON.parse((await docker(e, ['inspect', '-f', '{{json .State.Health.Log}}', id])).stdout) as { ExitCode: number; Output: string }[];
      return { status, output: log.at(-1)?.Output ?? '' };
    }

    it('HEALTHCHECK: healthy with a login in place, as docker inspect shows it', async () => {
      const h = await healthOf([AGENT, 'sleep', 'infinity'], { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) }, 'healthy');
      expect(h.status).toBe('healthy');
      expect(h.output).toMatch(/^healthy/);
      expectNoSecret(h.output, SECRETS);
    }, 120_000);

    it('HEALTHCHECK: unhealthy when no login could be put in place', async () => {
      const h = await healthOf([AGENT, 'sleep', 'infinity'], { CLAUDE_ENTRY_OPTIONAL: '1' }, 'unhealthy');
      expect(h.status).toBe('unhealthy');
      expect(h.output.length).toBeGreaterThan(0);
    }, 120_000);
  });

  describe('logins that change: refresh and sync', () => {
    /** The refresh rig's CA, readable by uid 1000 inside, at a fixed path. */
    function rigArgs(r: RefreshRig): { args: string[]; env: Record<string, string> } {
      const dir = hostDir();
      const ca = path.join(dir, 'ca.pem');
      fs.copyFileSync(r.proxy.caFile, ca);
      fs.chmodSync(ca, 0o644);
      return { args: ['-v', `${ca}:/etc/claude-entry-test-ca.pem:ro`], env: { ...r.env, NODE_EXTRA_CA_CERTS: '/etc/claude-entry-test-ca.pem' } };
    }

    async function strictRig(): Promise<RefreshRig> {
      const r = await startRefreshRig({ proxy: { strict: true, refreshTokens: [FAKE.refreshToken], accessTokens: [FAKE.accessToken] }, gate: true });
      onTestFinished(() => r.close());
      return r;
    }

    it('a container restarted on a named volume at the home keeps the login Claude Code refreshed', async () => {
      const r = await strictRig();
      const { args, env } = rigArgs(r);
      const volume = `claude-entry-test-home-${randomUUID().slice(0, 8)}`;
      const name = `claude-entry-test-${randomUUID().slice(0, 8)}`;
      onTestFinished(async () => {
        await docker(e, ['rm', '-f', name], { check: false });
        await docker(e, ['volume', 'rm', '-f', volume], { check: false });
      });
      // The secret: a login with a minute left, so the first run's CLI refreshes it.
      const secret = { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson({ expiresAt: Date.now() + 60_000 }))) };
      const allEnv = { ...env, ...secret };
      const names = Object.keys(allEnv).flatMap((n) => ['-e', n]);
      const first = await docker(e, ['run', '--name', name, '--network', 'host', '-v', `${volume}:${HOME}`, ...args, ...names, AGENT, 'claude', '-p', 'hi'], {
        env: allEnv,
        check: false,
        timeoutMs: 120_000,
      });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain(r.reply);
      expect(r.proxy.refreshes()).toHaveLength(1);
      const rotated = r.proxy.issued[0]!;

      // Restarted with the same (now spent) secret: the refreshed pair on the volume is kept.
      const again = await docker(e, ['start', '-a', name], { check: false, timeoutMs: 120_000 });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain(r.reply);
      expect(r.messageTokens().at(-1)).toBe(rotated.accessToken);
      expect(r.proxy.refreshes()).toHaveLength(1);
      expectNoSecret(entryLines(first.stderr + again.stderr), [FAKE.accessToken, FAKE.refreshToken, rotated.accessToken, rotated.refreshToken]);
    }, 240_000);

    it('sync push: the pair the CLI refreshed in a container reaches a fake AWS Secrets Manager', async () => {
      const r = await strictRig();
      const { args, env } = rigArgs(r);
      const aws = await startFakeSecretsManager({ region: 'eu-west-1' });
      onTestFinished(() => aws.close());
      aws.putSecret('claude-login', JSON.stringify(credentialsJson({ expiresAt: Date.now() + 60_000 })));
      const result = await run([...args, AGENT, 'claude', '-p', 'hi'], {
        ...env,
        AWS_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL: aws.url,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_REGION: 'eu-west-1',
        CLAUDE_ENTRY_SOURCE: 'aws-sm:claude-login',
        CLAUDE_ENTRY_SYNC: 'push',
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(r.reply);
      const rotated = r.proxy.issued[0]!;
      expect(rotated).toBeDefined();
      const stored = JSON.parse(String(aws.valueOf('claude-login', 'AWSCURRENT'))).claudeAiOauth;
      expect(stored.refreshToken).toBe(rotated.refreshToken);
      expect(result.stderr).toMatch(/^claude-entry: sync push: pushed the refreshed login to aws-sm:claude-login/m);
      expectNoSecret(entryLines(result.stderr), [
        FAKE.accessToken,
        FAKE.refreshToken,
        rotated.accessToken,
        rotated.refreshToken,
        FAKE_AWS_CREDENTIALS.secretAccessKey,
      ]);
    }, 180_000);
  });

  describe("the standalone executable (Node's single executable application), in an image without Node", () => {
    const NO_NODE = 'claude-entry-test/no-node:latest';
    const CLAUDE_NATIVE = path.join(ROOT, 'node_modules', '@anthropic-ai', 'claude-code-linux-x64', 'claude');
    const SEA = (arch: string) => path.join(ROOT, 'dist', `claude-entry-linux-${arch}`);

    beforeAll(async () => {
      const t0 = Date.now();
      const built = await runProcess([process.execPath, path.join(ROOT, 'build', 'sea.mjs'), 'x64', 'arm64'], { timeoutMs: 600_000 });
      if (built.code !== 0) throw new Error(`build/sea.mjs exited ${built.code}: ${built.stderr}`);
      figures.push(`standalone executables built in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${built.stdout.trim().split('\n').join('; ')}`);
      // Claude Code as its native installer leaves it: one binary, no Node anywhere.
      await buildContext(e, NO_NODE, {
        Dockerfile: [
          `FROM ${base}`,
          'COPY claude /usr/local/bin/claude',
          'COPY claude-entry /usr/local/bin/claude-entry',
          'RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash agent && mkdir /workspace && chown agent:agent /workspace',
          'WORKDIR /workspace',
          'ENV CLAUDE_ENTRY_USER=agent CLAUDE_ENTRY_TRUST=/workspace DISABLE_AUTOUPDATER=1',
          'ENTRYPOINT ["tini", "--", "claude-entry", "--"]',
          'CMD ["claude", "-p", "Summarise this repository in three lines."]',
          'HEALTHCHECK --interval=5m --timeout=10s --start-period=30s --retries=3 CMD ["claude-entry", "check"]',
          '',
        ].join('\n'),
        claude: { copyFrom: CLAUDE_NATIVE },
        'claude-entry': { copyFrom: SEA('x64') },
      });
    }, 900_000);

    it('no node in the image; a B64 login to a real `claude -p` answer, as agent, under tini; healthy', async () => {
      const none = await run(['--entrypoint', 'sh', NO_NODE, '-c', 'command -v node || echo no-node; ls /usr/local/bin']);
      expect(none.stdout).toMatch(/^no-node$/m);
      const { fake, reply } = await fakeApi();
      const env = { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())), ANTHROPIC_BASE_URL: fake.url, ...QUIET };
      const r = await run([NO_NODE], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(reply);
      expectOAuth(fake.messages()[0]!, FAKE.accessToken);
      expectNoSecret(entryLines(r.stderr), SECRETS);
      const who = await run(
        [NO_NODE, 'sh', '-c', 'id -un; cat /proc/1/cmdline | tr "\\0" " "; echo; stat -c "%U %a" ~/.claude/.credentials.json; claude-entry check'],
        env,
      );
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout).toMatch(/^agent$/m);
      expect(who.stdout).toMatch(/^tini -- claude-entry -- sh/m);
      expect(who.stdout).toMatch(/^agent 600$/m);
      expect(who.stdout).toMatch(/^healthy/m);
    }, 180_000);

    it('the standalone executable as PID 1: docker stop gives 143', async () => {
      const env = { CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) };
      const id = (
        await docker(
          e,
          ['run', '-d', '--network', 'host', '-e', 'CLAUDE_CREDENTIALS_B64', '--entrypoint', 'claude-entry', NO_NODE, '--', 'sleep', 'infinity'],
          { env },
        )
      ).stdout.trim();
      onTestFinished(async () => void (await docker(e, ['rm', '-f', id], { check: false })));
      expect(await until(async () => commandRuns(e, id), 120_000), 'the command never started').toBe(true);
      const t0 = Date.now();
      await docker(e, ['stop', '-t', '60', id], { timeoutMs: 90_000 });
      figures.push(`docker stop, standalone executable as PID 1: after ${Date.now() - t0} ms`);
      expect(Number((await docker(e, ['wait', id])).stdout.trim())).toBe(143);
    }, 120_000);

    it('size and start-up against the script on the same Node', async () => {
      const node22 = path.join(ROOT, 'tools', 'nodes', 'node_modules', 'node22', 'bin', 'node');
      // NODE_EXTRA_CA_CERTS makes every Node start load a CA bundle: measure without it.
      const { NODE_EXTRA_CA_CERTS: _ca, ...env } = process.env;
      const median = async (argv: string[]) => {
        const times: number[] = [];
        for (let i = 0; i < 15; i++) {
          const t0 = process.hrtime.bigint();
          const r = await runProcess(argv, { env });
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
          expect(r.stdout).toMatch(/^claude-entry \d+\.\d+\.\d+/);
        }
        return times.sort((a, b) => a - b)[7]!;
      };
      const script = await median([node22, path.join(ROOT, 'dist', 'claude-entry'), '--version']);
      const standalone = await median([SEA('x64'), '--version']);
      const size = (f: string) => (fs.statSync(f).size / 1e6).toFixed(1);
      figures.push(
        `standalone x64 ${size(SEA('x64'))} MB, arm64 ${size(SEA('arm64'))} MB, script ${size(path.join(ROOT, 'dist', 'claude-entry'))} MB; ` +
          `--version median of 15: standalone ${standalone.toFixed(1)} ms, script on Node 22 ${script.toFixed(1)} ms (ratio ${(standalone / script).toFixed(2)})`,
      );
    }, 120_000);

    // qemu-user with Debian's arm64 cross libraries (.ci/run installs both).
    const QEMU = '/usr/bin/qemu-aarch64-static';
    const SYSROOT = '/usr/aarch64-linux-gnu';
    it('the arm64 build runs under qemu-user: --version, and a login written', async (ctx) => {
      if (!fs.existsSync(QEMU) || !fs.existsSync(path.join(SYSROOT, 'lib'))) {
        const reason = `no ${QEMU} or ${SYSROOT} (Debian packages qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross)`;
        if (mustSkipWithout(reason)) {
          Object.assign(ctx.task.meta, { [`${META_PREFIX}qemu-arm64`]: `${reason}\tas root: npm run setup` });
          return ctx.skip(reason);
        }
        throw new Error(`arm64 under qemu-user: ${reason}; as root: npm run setup`);
      }
      const version = await runProcess([QEMU, '-L', SYSROOT, SEA('arm64'), '--version'], { timeoutMs: 60_000 });
      expect(version.stdout, version.stderr).toMatch(/^claude-entry \d+\.\d+\.\d+/);
      const home = hostDir();
      const r = await runProcess([QEMU, '-L', SYSROOT, SEA('arm64'), '--', '/bin/true'], {
        env: { PATH: process.env.PATH, HOME: home, CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())) },
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', '.credentials.json'), 'utf8'))).toEqual(credentialsJson({ expiresAt: expect.any(Number) }));
    }, 120_000);
  });

  describe('the release image', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    // The README says ghcr.io/OWNER/...: an image name must be lower case, so OWNER stands for a local one.
    const RELEASE = 'ghcr.io/owner/claude-entry:0';

    it("FROM scratch, the script and the standalone executable, OCI labels; the README's first snippet builds on it", async () => {
      await buildDockerfile(e, path.join(ROOT, 'Dockerfile.release'), {
        platform: 'linux/amd64',
        tag: RELEASE,
        buildArgs: { VERSION: pkg.version, REVISION: 'test' },
      });
      const labels = JSON.parse((await docker(e, ['image', 'inspect', '-f', '{{json .Config.Labels}}', RELEASE])).stdout) as Record<string, string>;
      expect(labels).toMatchObject({
        'org.opencontainers.image.title': 'claude-entry',
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.licenses': 'MIT',
      });
      const id = (await docker(e, ['create', RELEASE, '/claude-entry'])).stdout.trim();
      onTestFinished(async () => void (await docker(e, ['rm', '-f', id], { check: false })));
      const out = hostDir();
      await docker(e, ['cp', `${id}:/claude-entry`, path.join(out, 'claude-entry')]);
      await docker(e, ['cp', `${id}:/claude-entry-standalone`, path.join(out, 'claude-entry-standalone')]);
      expect(fs.readFileSync(path.join(out, 'claude-entry'))).toEqual(fs.readFileSync(path.join(ROOT, 'dist', 'claude-entry')));
      expect(fs.statSync(path.join(out, 'claude-entry-standalone')).size).toBe(fs.statSync(path.join(ROOT, 'dist', 'claude-entry-linux-x64')).size);
      const layers = JSON.parse((await docker(e, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', RELEASE])).stdout) as string[];
      expect(layers).toHaveLength(2); // FROM scratch: the two files, nothing else
      figures.push(`release image (linux/amd64): ${((await imageSize(e, RELEASE)) / 1e6).toFixed(1)} MB`);

      // linux/arm64 (COPY only: no emulation needed to build it): the arm64 executable.
      const ARM = 'claude-entry-test/release:arm64';
      await buildDockerfile(e, path.join(ROOT, 'Dockerfile.release'), {
        platform: 'linux/arm64',
        tag: ARM,
        buildArgs: { VERSION: pkg.version, REVISION: 'test' },
      });
      expect((await docker(e, ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', ARM])).stdout.trim()).toBe('linux/arm64');
      const armId = (await docker(e, ['create', '--platform', 'linux/arm64', ARM, '/claude-entry'])).stdout.trim();
      onTestFinished(async () => void (await docker(e, ['rm', '-f', armId], { check: false })));
      await docker(e, ['cp', `${armId}:/claude-entry-standalone`, path.join(out, 'standalone-arm64')]);
      expect(fs.readFileSync(path.join(out, 'standalone-arm64')).equals(fs.readFileSync(path.join(ROOT, 'dist', 'claude-entry-linux-arm64')))).toBe(true);

      // The README's first Dockerfile snippet, as written, on a Node image.
      const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      const snippet = /```dockerfile\n([\s\S]*?)```/.exec(readme)![1]!;
      expect(snippet).toContain('COPY --from=ghcr.io/OWNER/claude-entry:0 /claude-entry /usr/local/bin/claude-entry');
      await buildContext(e, 'claude-entry-test/readme:latest', {
        Dockerfile: `FROM claude-entry-test/node:22-bookworm-slim\n${snippet.replaceAll('ghcr.io/OWNER/', 'ghcr.io/owner/')}`,
      });
      const r = await run(['claude-entry-test/readme:latest', 'sh', '-c', 'stat -c %a ~/.claude/.credentials.json'], {
        CLAUDE_CREDENTIALS_B64: b64(JSON.stringify(credentialsJson())),
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('600');
    }, 600_000);
  });
});
