/**
 * The container Dockerfile.example describes, run without a container engine (see
 * container.ts): its ENTRYPOINT and CMD, USER and ENV, and HEALTHCHECK read from the parsed
 * Dockerfile; the secret mounted where each example mounts it; PID 1 in a new PID namespace;
 * the command (a stand-in for Claude Code) run as the image's non-root user; then the
 * health check, which must pass.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUNDLE, FAKE, ROOT, credentialsJson, expectNoSecret, nodeBinary } from '../helpers.js';
import { needs } from '../needs.js';
import { startFakeAnthropic } from '../fakes/anthropic.js';
import { runContainer, tempRoot, type ContainerRun, type ContainerSpec } from './container.js';
import { imageUser, readDockerfile, type ImageModel, type ImageUser } from './dockerfile.js';
import { loadYaml } from './files.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `docker run` sets HOME from the user's passwd entry and HOSTNAME; then the image's ENV. */
function dockerEnv(image: ImageModel, home: string): Record<string, string> {
  return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOSTNAME: 'claude-agent', HOME: home, ...image.env };
}

const k8sEnv = (container: Doc): Record<string, string> =>
  Object.fromEntries(((container.env ?? []) as Doc[]).filter((e) => typeof e.value === 'string').map((e) => [e.name, e.value]));

describe('the container Dockerfile.example describes (root: namespaces, real uids)', needs(needs.unshare(), needs.tool('tini'), needs.tool('setpriv')), () => {
  let image: ImageModel;
  let user: ImageUser;
  let claudeEntryPath: string;
  const dirs: string[] = [];

  beforeAll(() => {
    if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: npm run build`);
    image = readDockerfile();
    user = imageUser(image);
    const copy = image.copies(image.final).find((c) => c.sources.includes('/claude-entry'));
    if (!copy) throw new Error('Dockerfile.example: no COPY of /claude-entry in the final stage');
    claudeEntryPath = copy.dest;
  });
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const base = (): Pick<ContainerSpec, 'passwd' | 'group' | 'workdir'> => ({
    passwd: [`${user.name}:x:${user.uid}:${user.gid}::${user.home}:${user.shell}`],
    group: [`${user.name}:x:${user.gid}:`],
    workdir: image.workdir ?? '/',
  });

  /** A compose file's `agent` service: its environment, ENTRYPOINT + its command (or CMD), its first secret's path. */
  function composeService(file: string): { environment: Record<string, string>; argv: string[]; secretPath: string } {
    const service = (loadYaml(`docker-compose/${file}`)[0] as Doc).services.agent as Doc;
    return {
      environment: service.environment as Record<string, string>,
      argv: [...image.entrypoint, ...((service.command as string[]) ?? image.cmd)],
      secretPath: `/run/secrets/${service.secrets?.[0] as string}`,
    };
  }

  /**
   * What `docker compose up` starts: as root, the image user's home, the image's ENV then the
   * service's environment, the secret bind-mounted with the host file's owner and mode
   * (someone else's, 0600), HEALTHCHECK afterwards.
   */
  const composeUp = (environment: Record<string, string>, argv: string[], secret: { path: string; content: string }): ContainerSpec => ({
    ...base(),
    home: { path: user.home, uid: user.uid, gid: user.gid, mode: 0o755 },
    env: { ...dockerEnv(image, '/root'), ...environment },
    argv,
    secret: { ...secret, mode: 0o600, uid: 4242, gid: 4242 },
    health: image.healthcheck!.command,
  });

  /** A pod's first container: its ENTRYPOINT + CMD as Kubernetes runs them, and the secret volume it mounts (where the file lands). */
  function podParts(pod: Doc) {
    const container = pod.containers[0] as Doc;
    const mount = (container.volumeMounts as Doc[]).find((m) => pod.volumes.find((v: Doc) => v.name === m.name)?.secret)!;
    const volume = (pod.volumes as Doc[]).find((v) => v.name === mount.name)!;
    return {
      container,
      volume,
      secretPath: `${mount.mountPath}/${volume.secret.items[0].path}`,
      argv: [...((container.command as string[]) ?? image.entrypoint), ...((container.args as string[]) ?? image.cmd)],
    };
  }

  async function run(spec: ContainerSpec): Promise<ContainerRun> {
    const dir = tempRoot();
    dirs.push(dir);
    const result = await runContainer(spec, dir, claudeEntryPath);
    expectNoSecret(result.stdout + result.stderr + result.health.stdout, [FAKE.accessToken, FAKE.refreshToken, FAKE.oauthToken]);
    return result;
  }

  /** What every run must show: the files claude-entry wrote, owned by the image user. */
  function expectHome(result: ContainerRun, expected: { credentials?: Record<string, unknown> }) {
    const claudeDir = path.join(result.home, '.claude');
    const claudeJson = path.join(result.home, '.claude.json');
    expect(fs.statSync(claudeJson).uid).toBe(user.uid);
    expect(fs.statSync(claudeJson).mode & 0o777).toBe(0o600);
    const settings = JSON.parse(fs.readFileSync(claudeJson, 'utf8')) as Doc;
    expect(settings.hasCompletedOnboarding).toBe(true);
    expect(settings.projects?.[image.env.CLAUDE_ENTRY_TRUST!]?.hasTrustDialogAccepted).toBe(true);
    if (expected.credentials) {
      const file = path.join(claudeDir, '.credentials.json');
      const st = fs.statSync(file);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: user.uid, gid: user.gid, mode: 0o600 });
      expect(fs.statSync(claudeDir).uid).toBe(user.uid);
      expect(fs.statSync(claudeDir).mode & 0o777).toBe(0o700);
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(expected.credentials);
    }
  }

  test('the image as its ENTRYPOINT, CMD and ENV say', () => {
    expect(image.entrypoint).toEqual(['tini', '--', path.basename(claudeEntryPath), '--']);
    expect(image.cmd[0]).toBe('claude');
    expect(image.user === undefined || image.user === user.name || image.user.startsWith(`${user.uid}`)).toBe(true);
    expect(image.env.CLAUDE_ENTRY_USER).toBe(user.name);
    expect(image.healthcheck?.command).toEqual(['claude-entry', 'check']);
    expect(user.uid).not.toBe(0);
  });

  test('docker compose up (compose.yaml): a credentials JSON from /run/secrets, then HEALTHCHECK', async () => {
    const service = composeService('compose.yaml');
    const credentials = credentialsJson();
    const result = await run({
      ...composeUp(service.environment, service.argv, { path: service.secretPath, content: JSON.stringify(credentials) }),
      // No USER in the image: the container starts as root.
      startAs: image.user ? { uid: user.uid, gid: user.gid, groups: [user.gid] } : undefined,
    });
    expect(result.exit, result.stderr).toBe(0);

    // the command: as the image user, with its home, as the child of PID 1 tini
    const r = result.record!;
    expect(r, result.stderr).toBeDefined();
    expect({ uid: r.uid, gid: r.gid }).toEqual({ uid: user.uid, gid: user.gid });
    expect(r.groups).not.toContain(0);
    expect(r.env).toMatchObject({ HOME: user.home, USER: user.name, LOGNAME: user.name });
    expect(r.argv).toEqual(service.argv.slice(image.entrypoint.length + 1));
    expect(r.pid1[0]).toBe('tini');
    expect(r.pid).not.toBe(1);
    expect(r.credentials).toMatchObject({ path: `${user.home}/.claude/.credentials.json`, readable: true, writable: true });
    expect(r.cwd).toMatch(/workspace$/);

    expectHome(result, { credentials });
    // the secret itself is untouched
    expect(fs.statSync(result.secret).uid).toBe(4242);
    expect(JSON.parse(fs.readFileSync(result.secret, 'utf8'))).toEqual(credentials);
    expect(result.stderr).toMatch(/claude-entry: using .* from .*\/run\/secrets\/claude-credentials/);

    // HEALTHCHECK, afterwards, in the same mount namespace, as docker exec runs it (root)
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
    expect(result.health.stdout).toMatch(/^healthy/);
  });

  const CLAUDE_BIN = path.join(ROOT, 'node_modules', '.bin');
  test('compose.yaml with the real Claude Code CLI as the command, against a local fake API', needs(needs.claude()), async () => {
    const reply = `Reviewed by the fake API ${process.pid}.`;
    const fake = await startFakeAnthropic({ replyText: reply });
    try {
      const service = composeService('compose.yaml');
      const credentials = credentialsJson();
      const environment = {
        ...service.environment,
        ANTHROPIC_BASE_URL: fake.url,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
      };
      const result = await run({
        ...composeUp(environment, service.argv, { path: service.secretPath, content: JSON.stringify(credentials) }),
        realClaude: CLAUDE_BIN,
      });
      expect(result.exit, result.stderr).toBe(0);
      expect(result.stdout).toContain(reply);
      const [message] = fake.messages();
      expect(message?.headers.authorization).toBe(`Bearer ${FAKE.accessToken}`);
      expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
      expect(fs.statSync(path.join(result.home, '.claude', '.credentials.json')).uid).toBe(user.uid);
    } finally {
      await fake.close();
    }
  });

  // The image's Node (node:22): there claude-entry is not PID 1 (tini is) and has
  // process.execve, so it replaces itself with the command instead of supervising it.
  test("compose.yaml on the image's Node major: claude-entry execs, the command is tini's child", async () => {
    const major = Number(/^node:(\d+)/.exec(image.final.from)?.[1]);
    const node = [18, 20, 22, 24].includes(major) ? nodeBinary(major as 18 | 20 | 22 | 24) : undefined;
    if (!node) throw new Error(`no Node ${major} binary in tools/nodes (npm run setup installs it)`);
    const service = composeService('compose.yaml');
    const credentials = credentialsJson();
    const result = await run({
      ...composeUp(service.environment, service.argv, { path: service.secretPath, content: JSON.stringify(credentials) }),
      nodeDir: path.dirname(node),
    });
    expect(result.exit, result.stderr).toBe(0);
    const r = result.record!;
    expect({ uid: r.uid, gid: r.gid, ppid: r.ppid }).toEqual({ uid: user.uid, gid: user.gid, ppid: 1 });
    expect(r.pid1[0]).toBe('tini');
    expectHome(result, { credentials });
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
  });

  test('compose.yaml without CLAUDE_CREDENTIALS_FILE: the secret is found at the default /run/secrets/claude-credentials', async () => {
    const { CLAUDE_CREDENTIALS_FILE, ...environment } = composeService('compose.yaml').environment;
    expect(CLAUDE_CREDENTIALS_FILE).toBe('/run/secrets/claude-credentials');
    const credentials = credentialsJson();
    const result = await run(
      composeUp(environment, [...image.entrypoint, ...image.cmd], { path: '/run/secrets/claude-credentials', content: JSON.stringify(credentials) }),
    );
    expect(result.exit, result.stderr).toBe(0);
    expect(result.record).toMatchObject({ uid: user.uid, gid: user.gid, argv: image.cmd.slice(1) });
    expect(result.stderr).toMatch(/claude-entry: using .* from \/run\/secrets\/claude-credentials/);
    expectHome(result, { credentials });
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
  });

  test('docker compose -f compose.token.yaml up: a setup-token token through CLAUDE_CODE_OAUTH_TOKEN_FILE', async () => {
    const service = composeService('compose.token.yaml');
    const result = await run(
      composeUp(service.environment, service.argv, { path: service.environment.CLAUDE_CODE_OAUTH_TOKEN_FILE!, content: `${FAKE.oauthToken}\n` }),
    );
    expect(result.exit, result.stderr).toBe(0);
    const r = result.record!;
    expect({ uid: r.uid, gid: r.gid }).toEqual({ uid: user.uid, gid: user.gid });
    // Claude Code gets the token in its environment, trimmed; nothing else carries it
    const { createHash } = await import('node:crypto');
    expect(r.tokens.CLAUDE_CODE_OAUTH_TOKEN).toBe(`${FAKE.oauthToken.length}:${createHash('sha256').update(FAKE.oauthToken).digest('hex').slice(0, 16)}`);
    expect(r.credentials.readable).toBe(false);
    expectHome(result, {});
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
  });

  test('kubernetes/deployment.yaml: started as runAsUser, secret 0440 via fsGroup, probes while it runs, SIGTERM', async () => {
    const deployment = loadYaml('kubernetes/deployment.yaml')[0] as Doc;
    const pod = deployment.spec.template.spec as Doc;
    const { container, volume, secretPath, argv } = podParts(pod);
    const sc = pod.securityContext as Doc;
    const who = { uid: sc.runAsUser as number, gid: sc.runAsGroup as number, groups: [sc.fsGroup as number] };
    const credentials = credentialsJson();
    const result = await run({
      ...base(),
      // an emptyDir: root-owned, world-writable, group fsGroup
      home: { path: user.home, uid: 0, gid: sc.fsGroup, mode: 0o777 },
      startAs: who,
      env: { ...dockerEnv(image, user.home), ...k8sEnv(container) },
      argv,
      secret: {
        path: secretPath,
        content: JSON.stringify(credentials),
        mode: volume.secret.defaultMode,
        uid: 0,
        gid: sc.fsGroup,
      },
      health: container.readinessProbe.exec.command,
      whileRunning: { waitFor: `${user.home}/.claude/.credentials.json` },
    });
    expect(container.livenessProbe.exec.command).toEqual(container.readinessProbe.exec.command);
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
    expect(result.health.stdout).toMatch(/^healthy/);
    // SIGTERM to PID 1 (tini) reaches `sleep infinity` through claude-entry: 128 + 15
    expect(result.exit, result.stderr).toBe(143);
    expectHome(result, { credentials });
    expect(result.stderr).toMatch(/claude-entry: using .* from .*\/run\/secrets\/claude\/credentials\.json/);
  });

  test('devcontainer.json: postStartCommand as remoteUser, the login from ${localEnv:CLAUDE_CREDENTIALS_B64}, then check', async () => {
    const devcontainer = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/devcontainer/.devcontainer/devcontainer.json'), 'utf8')) as Doc;
    expect(devcontainer.remoteUser).toBe(user.name);
    const credentials = credentialsJson();
    const local: Record<string, string> = { CLAUDE_CREDENTIALS_B64: Buffer.from(JSON.stringify(credentials)).toString('base64') };
    const containerEnv = (localEnv: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(devcontainer.containerEnv as Record<string, string>).map(([k, v]) => [
          k,
          v.replace(/\$\{localEnv:(\w+)\}/g, (_, name: string) => localEnv[name] ?? ''),
        ]),
      );
    const spec = (localEnv: Record<string, string>): ContainerSpec => ({
      ...base(),
      home: { path: user.home, uid: user.uid, gid: user.gid, mode: 0o755 },
      // lifecycle commands run as remoteUser, with the container's environment
      startAs: { uid: user.uid, gid: user.gid, groups: [user.gid] },
      env: { ...dockerEnv(image, user.home), ...containerEnv(localEnv) },
      argv: devcontainer.postStartCommand as string[],
      secret: { path: '/run/secrets/unused', content: '', mode: 0o600, uid: 0, gid: 0 },
      health: ['claude-entry', 'check'],
    });
    const result = await run(spec(local));
    expect(result.exit, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/claude-entry: using .* from CLAUDE_CREDENTIALS_B64/);
    expectHome(result, { credentials });
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);

    // Nothing set on the host: the container still starts (CLAUDE_ENTRY_OPTIONAL), check says why not healthy.
    const bare = await run(spec({}));
    expect(bare.exit, bare.stderr).toBe(0);
    expect(bare.health.exit).toBe(1);
  });

  function jobSpec(capabilities?: string[]): { spec: ContainerSpec; container: Doc; credentials: Record<string, unknown> } {
    const job = loadYaml('kubernetes/job.yaml')[0] as Doc;
    const pod = job.spec.template.spec as Doc;
    const { container, volume, secretPath, argv } = podParts(pod);
    expect(volume.secret.defaultMode).toBe(0o400);
    const credentials = credentialsJson();
    const spec: ContainerSpec = {
      ...base(),
      home: { path: user.home, uid: user.uid, gid: user.gid, mode: 0o755 },
      capabilities: capabilities ?? container.securityContext.capabilities.add,
      env: { ...dockerEnv(image, '/root'), ...k8sEnv(container) },
      argv,
      secret: {
        path: secretPath,
        content: JSON.stringify(credentials),
        mode: volume.secret.defaultMode,
        uid: 0,
        gid: 0,
      },
      health: image.healthcheck!.command,
    };
    return { spec, container, credentials };
  }

  test('kubernetes/job.yaml: started as root with only the listed capabilities, secret 0400, drops to the image user', async () => {
    const { spec, container, credentials } = jobSpec();
    expect(container.securityContext.capabilities.drop).toEqual(['ALL']);
    const result = await run(spec);
    expect(result.exit, result.stderr).toBe(0);
    const r = result.record!;
    expect({ uid: r.uid, gid: r.gid }).toEqual({ uid: user.uid, gid: user.gid });
    expect(r.groups).not.toContain(0);
    expect(r.argv).toEqual((container.args as string[]).slice(1));
    expect(r.credentials).toMatchObject({ readable: true, writable: true });
    expectHome(result, { credentials });
    expect(result.health.exit, result.health.stdout + result.stderr).toBe(0);
  });

  test('kubernetes/job.yaml: each listed capability is needed (the simulation enforces them)', async () => {
    const { spec } = jobSpec();
    for (const missing of spec.capabilities!) {
      const result = await run({ ...spec, capabilities: spec.capabilities!.filter((c) => c !== missing) });
      expect(result.exit, `without ${missing}: ${result.stderr}`).not.toBe(0);
      expect(result.record, `without ${missing}`).toBeUndefined();
    }
  });
});
