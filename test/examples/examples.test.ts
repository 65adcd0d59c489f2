/**
 * examples/: every YAML and JSON file parses, and is validated against the real schema of
 * its platform where one is on the npm registry (see schemas.ts for which, and which not);
 * every example has a README; and what the examples tell claude-entry is something it
 * understands.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers.js';
import { imageUser, readDockerfile } from './dockerfile.js';
import { EXAMPLES, exampleFiles, fillPlaceholders, isJson, isYaml, load, readExample, settingsIn } from './files.js';
import { typecheck, validateCompose, validateKubernetes, validateKubernetesPart, validateWorkflow, type TypedValue } from './schemas.js';
import { linkForReference } from '../../src/sources/references.js';
import type { SourceContext } from '../../src/sources/types.js';

const files = exampleFiles();
const dataFiles = files.filter((f) => isYaml(f) || isJson(f));

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Which schema checks which file. A file no rule claims fails the "every file" test. */
interface Rule {
  match: RegExp;
  schema: string;
  /** Validation that runs in the test itself: the errors, [] when valid. */
  validate?: (file: string, docs: Doc[]) => Promise<string[]> | string[];
  /** Values for the one tsc run: checked against API-model types. */
  typed?: (file: string, docs: Doc[]) => TypedValue[];
}

const K8S_TYPES: Record<string, string> = {
  'apps/v1/Deployment': 'IDeployment',
  'batch/v1/Job': 'IJob',
  'v1/ServiceAccount': 'IServiceAccount',
  'v1/Secret': 'ISecret',
};

/** Container Apps YAML is the ARM resource; the SDK's model flattens its `properties`. */
function flattenArm(doc: Doc): Doc {
  const { properties, ...rest } = doc;
  return { ...rest, ...(properties as Doc) };
}

const cloudRunTask = (doc: Doc): Doc => doc.spec?.template?.spec?.template?.spec ?? {};

const RULES: Rule[] = [
  {
    match: /^docker-compose\/.*\.ya?ml$/,
    schema: 'compose-spec JSON schema (dclint/schemas/compose.schema.json), ajv',
    validate: (_f, docs) => docs.flatMap((d) => validateCompose(d)),
  },
  {
    match: /^kubernetes\/.*\.yaml$/,
    schema: 'Kubernetes OpenAPI schema (kubernetes-models validators) + its TypeScript interfaces',
    validate: async (_f, docs) => (await Promise.all(docs.map((d) => validateKubernetes(d)))).flat(),
    typed: (file, docs) =>
      docs.map((d, i) => {
        const type = K8S_TYPES[`${d.apiVersion}/${d.kind}`];
        if (!type) throw new Error(`${file}: no TypeScript type listed for ${d.apiVersion} ${d.kind}`);
        return { label: `${file}#${i} ${d.kind}`, module: `kubernetes-models/${d.apiVersion}`, type, value: d };
      }),
  },
  {
    match: /^github-actions\/.*\.ya?ml$/,
    schema: "GitHub's workflow schema and expression parser (@actions/workflow-parser)",
    validate: (file) => validateWorkflow(path.basename(file), readExample(file)),
  },
  {
    match: /^ecs\/task-definition.*\.json$/,
    schema: 'ECS API model: RegisterTaskDefinitionCommandInput (@aws-sdk/client-ecs), tsc',
    typed: (file, docs) => docs.map((d) => ({ label: file, module: '@aws-sdk/client-ecs', type: 'RegisterTaskDefinitionCommandInput', value: d })),
  },
  {
    match: /^azure-container-apps\/.*\.yaml$/,
    schema: 'ARM model: Job (@azure/arm-appcontainers), tsc',
    validate: (_f, docs) =>
      docs.flatMap((d) => {
        const errors: string[] = [];
        if (d.type !== 'Microsoft.App/jobs') errors.push(`type is ${d.type}, not Microsoft.App/jobs`);
        if (typeof d.properties !== 'object') errors.push('no properties');
        return errors;
      }),
    typed: (file, docs) => docs.map((d) => ({ label: file, module: '@azure/arm-appcontainers', type: 'Job', value: flattenArm(d) })),
  },
  {
    match: /^cloud-run\/.*\.yaml$/,
    schema: 'none on npm for Cloud Run jobs: containers and volumes as Kubernetes core/v1 Container and Volume',
    validate: async (_f, docs) => {
      const errors: string[] = [];
      for (const d of docs) {
        if (d.apiVersion !== 'run.googleapis.com/v1' || d.kind !== 'Job') errors.push(`not a run.googleapis.com/v1 Job: ${d.apiVersion} ${d.kind}`);
        const task = cloudRunTask(d);
        if (!Array.isArray(task.containers) || task.containers.length === 0) errors.push('no spec.template.spec.template.spec.containers');
        for (const c of task.containers ?? []) errors.push(...(await validateKubernetesPart('IoK8sApiCoreV1Container', c)));
        for (const v of task.volumes ?? []) errors.push(...(await validateKubernetesPart('IoK8sApiCoreV1Volume', v)));
      }
      return errors;
    },
    typed: (file, docs) =>
      docs.flatMap((d) => {
        const task = cloudRunTask(d);
        return [
          ...(task.containers ?? []).map((c: Doc, i: number) => ({
            label: `${file} container ${i}`,
            module: 'kubernetes-models/v1',
            type: 'IContainer',
            value: c,
          })),
          ...(task.volumes ?? []).map((v: Doc, i: number) => ({ label: `${file} volume ${i}`, module: 'kubernetes-models/v1', type: 'IVolume', value: v })),
        ];
      }),
  },
  {
    match: /^ecs\/.*policy\.json$/,
    schema: 'none on npm for IAM policy documents: the grammar checked by hand',
    validate: (_f, docs) =>
      docs.flatMap((d) => {
        const errors: string[] = [];
        if (d.Version !== '2012-10-17') errors.push(`Version ${d.Version}`);
        if (!Array.isArray(d.Statement) || d.Statement.length === 0) errors.push('no Statement list');
        for (const s of d.Statement ?? []) {
          const unknown = Object.keys(s).filter(
            (k) => !['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'].includes(k),
          );
          if (unknown.length) errors.push(`unknown statement keys ${unknown.join(', ')}`);
          if (!['Allow', 'Deny'].includes(s.Effect)) errors.push(`Effect ${s.Effect}`);
          if (!s.Action && !s.NotAction) errors.push('no Action');
        }
        return errors;
      }),
  },
  {
    match: /^devcontainer\/\.devcontainer\/devcontainer\.json$/,
    schema: 'none on npm for devcontainer.json (the spec repository publishes it, no package ships it): checked by hand',
    validate: (_f, docs) =>
      docs.flatMap((d) => {
        const errors: string[] = [];
        if (typeof d.image !== 'string' && typeof d.build?.dockerfile !== 'string' && !d.dockerComposeFile)
          errors.push('no image, build.dockerfile or dockerComposeFile');
        for (const key of ['containerEnv', 'remoteEnv']) {
          for (const [k, v] of Object.entries((d[key] ?? {}) as Doc)) if (typeof v !== 'string') errors.push(`${key}.${k} is not a string`);
        }
        const cmd = d.postStartCommand;
        if (cmd !== undefined && typeof cmd !== 'string' && !(Array.isArray(cmd) && cmd.every((s) => typeof s === 'string')))
          errors.push('postStartCommand: not a string or a list of strings');
        return errors;
      }),
  },
];

const ruleFor = (file: string) => RULES.filter((r) => r.match.test(file));

const parsed = new Map<string, Doc[]>();
function docsOf(file: string): Doc[] {
  if (!parsed.has(file)) parsed.set(file, load(file) as Doc[]);
  return parsed.get(file)!;
}

describe('every YAML and JSON file under examples/', () => {
  test('there are some', () => {
    expect(dataFiles.length).toBeGreaterThan(10);
  });

  test.each(dataFiles)('%s parses', (file) => {
    const docs = docsOf(file);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) expect(typeof doc).toBe('object');
  });

  // Kubernetes (sigs.k8s.io/yaml), Compose and the cloud CLIs read YAML 1.1 or 1.2: a file
  // must mean the same in both (0440, yes/no, on/off differ). GitHub reads 1.2 (`on:`).
  test.each(dataFiles.filter((f) => isYaml(f) && !f.startsWith('github-actions/')))('%s means the same in YAML 1.1 and 1.2', (file) => {
    const v11 = parseAllDocuments(readExample(file), { version: '1.1' });
    const docs11 = (Array.isArray(v11) ? v11 : [v11]).map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
    expect(docs11).toEqual(docsOf(file));
  });

  test.each(dataFiles)('%s has exactly one schema rule', (file) => {
    expect(ruleFor(file).map((r) => r.schema)).toHaveLength(1);
  });
});

describe('validated against the real schemas', () => {
  let tscErrors: Record<string, string[]> = {};
  const brokenTypedValues = (): TypedValue[] => {
    const task = structuredClone(docsOf('ecs/task-definition.json')[0]!);
    task.containerDefinitions[0].healthcheck = task.containerDefinitions[0].healthCheck;
    task.networkMode = 'vpc';
    const aca = structuredClone(docsOf('azure-container-apps/job.yaml')[0]!);
    aca.properties.template.containers[0].environment = [];
    const pod = structuredClone(docsOf('kubernetes/deployment.yaml')[0]!);
    pod.spec.template.spec.containers[0].readinesProbe = {};
    const container = structuredClone(cloudRunTask(docsOf('cloud-run/job.yaml')[0]!).containers[0]);
    container.volumeMounts[0].mountpath = container.volumeMounts[0].mountPath;
    return [
      { label: 'broken ecs', module: '@aws-sdk/client-ecs', type: 'RegisterTaskDefinitionCommandInput', value: task },
      { label: 'broken aca', module: '@azure/arm-appcontainers', type: 'Job', value: flattenArm(aca) },
      { label: 'broken k8s', module: 'kubernetes-models/apps/v1', type: 'IDeployment', value: pod },
      { label: 'broken cloud-run', module: 'kubernetes-models/v1', type: 'IContainer', value: container },
    ];
  };
  const typedValues = (): TypedValue[] =>
    dataFiles.flatMap((file) => {
      const [rule] = ruleFor(file);
      return rule?.typed ? rule.typed(file, docsOf(file)) : [];
    });

  // One tsc run for the examples and for the broken copies below (tsc starts slowly).
  beforeAll(() => {
    tscErrors = typecheck([...typedValues(), ...brokenTypedValues()]);
  }, 180_000);

  test('the TypeScript models compiled', () => {
    expect(tscErrors['(tsc)']).toBeUndefined();
    expect(typedValues().length).toBeGreaterThan(5);
  });

  test.each(dataFiles)('%s', async (file) => {
    const [rule] = ruleFor(file);
    if (!rule) throw new Error(`no rule for ${file}`);
    const docs = docsOf(file);
    const errors = rule.validate ? await rule.validate(file, docs) : [];
    expect(errors, `${file} against ${rule.schema}`).toEqual([]);
    const typedErrors = Object.entries(tscErrors).filter(([label]) => label === file || label.startsWith(`${file} `) || label.startsWith(`${file}#`));
    expect(Object.fromEntries(typedErrors), `${file} against ${rule.schema}`).toEqual({});
  });

  // The validators are only worth something if they say no: one broken copy of each.
  test('each validator rejects a broken file', async () => {
    const compose = docsOf('docker-compose/compose.yaml')[0]!;
    expect(validateCompose({ ...compose, services: { agent: { ...compose.services.agent, secretz: ['x'] } } })).not.toEqual([]);

    const deployment = docsOf('kubernetes/deployment.yaml')[0]!;
    const broken = structuredClone(deployment);
    broken.spec.template.spec.securityContext.runAsUser = 'agent';
    expect(await validateKubernetes(broken)).not.toEqual([]);

    const workflow = readExample('github-actions/claude-review.yml').replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    step: []');
    expect(await validateWorkflow('broken.yml', workflow)).not.toEqual([]);
    const expression = readExample('github-actions/claude-review.yml').replace('secrets.CLAUDE_CODE_OAUTH_TOKEN', 'secret.CLAUDE_CODE_OAUTH_TOKEN');
    expect(await validateWorkflow('broken.yml', expression)).not.toEqual([]);

    expect(tscErrors['broken ecs']?.join('\n')).toMatch(/healthcheck/);
    expect(tscErrors['broken ecs']?.join('\n')).toMatch(/"vpc"/);
    expect(tscErrors['broken aca']?.join('\n')).toMatch(/environment/);
    expect(tscErrors['broken k8s']?.join('\n')).toMatch(/readinesProbe/);
    expect(tscErrors['broken cloud-run']?.join('\n')).toMatch(/mountpath/);
  });
});

describe('each example is complete', () => {
  const dirs = fs
    .readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);

  test('the expected platforms are there', () => {
    expect(dirs.sort()).toEqual(['azure-container-apps', 'cloud-run', 'devcontainer', 'docker-compose', 'ecs', 'github-actions', 'kubernetes']);
  });

  test.each(dirs)('%s has a README that the index links, naming each of its files', (dir) => {
    const readme = readExample(`${dir}/README.md`);
    expect(readExample('README.md')).toContain(`(${dir}/)`);
    for (const file of files.filter((f) => f.startsWith(`${dir}/`) && (isYaml(f) || isJson(f)))) {
      expect(readme, `${dir}/README.md mentions ${path.basename(file)}`).toContain(path.basename(file));
    }
    // how to create the secret, how to deploy, what to check
    expect(readme).toMatch(/secret/i);
    expect(readme).toMatch(/## \d*\.? ?(Run|Deploy|Open it)/);
    expect(readme).toMatch(/## \d*\.? ?Check/);
  });
});

describe('what the examples tell claude-entry', () => {
  const settings = dataFiles.flatMap((file) => docsOf(file).flatMap((d) => settingsIn(d).map((s) => ({ file, ...s }))));
  const source = fs
    .readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => fs.readFileSync(path.join(ROOT, 'src', f), 'utf8'))
    .join('\n');

  test('every CLAUDE_* and ANTHROPIC_* variable in the examples is one claude-entry or Claude Code reads', () => {
    const names = new Set<string>();
    for (const file of files) for (const m of readExample(file).matchAll(/\b(?:CLAUDE|ANTHROPIC)_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(m[0]);
    const unknown = [...names].filter((n) => !source.includes(n));
    expect(unknown).toEqual([]);
    expect(names.size).toBeGreaterThan(8);
  });

  test('every cloud secret reference is one claude-entry recognises', () => {
    const refs = settings.filter((s) => /^CLAUDE_CREDENTIALS_(AWS|GCP|AZURE)_SECRET$/.test(s.name));
    expect(new Set(refs.map((r) => r.name))).toEqual(
      new Set(['CLAUDE_CREDENTIALS_AWS_SECRET', 'CLAUDE_CREDENTIALS_GCP_SECRET', 'CLAUDE_CREDENTIALS_AZURE_SECRET']),
    );
    const syntax: Record<string, RegExp> = {
      CLAUDE_CREDENTIALS_AWS_SECRET: /^(arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|aws-sm:[A-Za-z0-9/_+=.@-]+)(#[\w.-]+)?$/,
      CLAUDE_CREDENTIALS_GCP_SECRET: /^projects\/[a-z][a-z0-9-]+\/secrets\/[A-Za-z0-9_-]+(\/versions\/(latest|\d+))?(#[\w.-]+)?$/,
      CLAUDE_CREDENTIALS_AZURE_SECRET: /^https:\/\/[a-z0-9-]+\.vault\.azure\.net\/secrets\/[A-Za-z0-9-]+(\/[0-9a-f]{32})?(#[\w.-]+)?$/,
    };
    const ctx = {
      env: { AWS_REGION: 'eu-west-1' },
      log: { debug() {}, info() {}, warn() {}, error() {}, addSecret() {} },
      timeoutMs: 1000,
      credentialsPath: '/claude-entry-no-such-dir/.credentials.json',
    } as unknown as SourceContext;
    for (const ref of refs) {
      const value = fillPlaceholders(ref.value);
      expect(value, `${ref.file}: ${ref.name}`).toMatch(syntax[ref.name]!);
      expect(() => linkForReference(value, ctx), `${ref.file}: ${ref.name}=${value}`).not.toThrow();
    }
  });

  test('every credentials file a container is told about is where the platform mounts the secret', () => {
    const checked: string[] = [];
    // Compose: secrets land in /run/secrets/<target or name>
    for (const file of dataFiles.filter((f) => f.startsWith('docker-compose/'))) {
      for (const doc of docsOf(file)) {
        for (const service of Object.values(doc.services as Record<string, Doc>)) {
          const mounted = (service.secrets ?? []).map((s: string | Doc) =>
            typeof s === 'string' ? `/run/secrets/${s}` : s.target?.startsWith('/') ? s.target : `/run/secrets/${s.target ?? s.source}`,
          );
          for (const [name, value] of Object.entries(service.environment ?? {})) {
            if (/_FILE$/.test(name)) {
              expect(mounted, `${file}: ${name}`).toContain(value);
              checked.push(`${file}:${name}`);
            }
          }
          for (const s of service.secrets ?? []) expect(Object.keys(doc.secrets ?? {})).toContain(typeof s === 'string' ? s : s.source);
        }
      }
    }
    // Kubernetes, Cloud Run: volumeMounts + secret volume items
    const podSpecs = dataFiles.flatMap((file) =>
      docsOf(file).flatMap((doc) => {
        if (file.startsWith('kubernetes/') && doc.spec?.template?.spec) return [{ file, spec: doc.spec.template.spec as Doc }];
        if (file.startsWith('cloud-run/')) return [{ file, spec: cloudRunTask(doc) }];
        return [];
      }),
    );
    for (const { file, spec } of podSpecs) {
      for (const c of spec.containers as Doc[]) {
        const wanted = (c.env ?? []).find((e: Doc) => e.name === 'CLAUDE_CREDENTIALS_FILE')?.value as string | undefined;
        if (!wanted) continue;
        const provided = (c.volumeMounts ?? []).flatMap((m: Doc) => {
          const volume = (spec.volumes ?? []).find((v: Doc) => v.name === m.name);
          if (!volume?.secret) return [];
          return (volume.secret.items ?? []).map((i: Doc) => `${m.mountPath}/${i.path}`);
        });
        expect(provided, `${file}: CLAUDE_CREDENTIALS_FILE`).toContain(wanted);
        checked.push(`${file}:${c.name}`);
      }
    }
    // Container Apps: secret volumes
    for (const file of dataFiles.filter((f) => f.startsWith('azure-container-apps/'))) {
      for (const doc of docsOf(file)) {
        const template = doc.properties.template as Doc;
        for (const c of template.containers as Doc[]) {
          const wanted = (c.env ?? []).find((e: Doc) => e.name === 'CLAUDE_CREDENTIALS_FILE')?.value as string | undefined;
          if (!wanted) continue;
          const provided = (c.volumeMounts ?? []).flatMap((m: Doc) => {
            const volume = (template.volumes ?? []).find((v: Doc) => v.name === m.volumeName);
            if (volume?.storageType !== 'Secret') return [];
            for (const s of volume.secrets ?? []) expect((doc.properties.configuration.secrets ?? []).map((x: Doc) => x.name)).toContain(s.secretRef);
            return (volume.secrets ?? []).map((s: Doc) => `${m.mountPath}/${s.path}`);
          });
          expect(provided, `${file}: CLAUDE_CREDENTIALS_FILE`).toContain(wanted);
          checked.push(`${file}:${c.name}`);
        }
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(6);
  });

  test('health checks and probes are the image HEALTHCHECK: claude-entry check', () => {
    const image = readDockerfile();
    expect(image.healthcheck?.command.slice(0, 2)).toEqual(['claude-entry', 'check']);
    const deployment = docsOf('kubernetes/deployment.yaml')[0]!;
    for (const c of deployment.spec.template.spec.containers as Doc[]) {
      expect(c.readinessProbe.exec.command.slice(0, 2)).toEqual(['claude-entry', 'check']);
      expect(c.livenessProbe.exec.command.slice(0, 2)).toEqual(['claude-entry', 'check']);
    }
    for (const file of dataFiles.filter((f) => /^ecs\/task-definition/.test(f))) {
      for (const c of docsOf(file)[0]!.containerDefinitions as Doc[]) expect(c.healthCheck.command).toEqual(['CMD', ...image.healthcheck!.command]);
    }
  });

  test('non-root: the pods that start as a uid start as the image user', () => {
    const image = readDockerfile();
    const { uid, name } = imageUser(image);
    expect(image.env.CLAUDE_ENTRY_USER).toBe(name);
    for (const file of ['kubernetes/deployment.yaml', 'kubernetes/gke-workload-identity.yaml']) {
      const pod = docsOf(file).find((d) => d.spec?.template?.spec)!.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(uid), runAsGroup: Number(uid) });
    }
    const job = docsOf('kubernetes/job.yaml')[0]!.spec.template.spec;
    const env = job.containers[0].env as Doc[];
    expect(env.find((e) => e.name === 'CLAUDE_ENTRY_USER')?.value).toBe(name);
  });

  test('no example carries a credential', () => {
    for (const file of files) expect(readExample(file), file).not.toMatch(/sk-ant-(oat|api|ort)\d\d-[A-Za-z0-9_-]{8,}/);
  });
});
