/**
 * Dockerfile.example as a model the tests can run: its stages, and the final stage's
 * ENTRYPOINT, CMD, ENV, USER, WORKDIR and HEALTHCHECK, read by a real Dockerfile parser
 * (dockerfile-ast, the parser behind the Docker language server).
 */
import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers.js';

export const DOCKERFILE = path.join(ROOT, 'Dockerfile.example');

export interface Stage {
  name?: string;
  /** The FROM image, or an earlier stage's name. */
  from: string;
  instructions: Instruction[];
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

export interface Healthcheck {
  options: Record<string, string>;
  /** The exec form after CMD. */
  command: string[];
}

export interface ImageModel {
  directives: Record<string, string>;
  stages: Stage[];
  final: Stage;
  /** Per stage name (or index), its COPY instructions. */
  copies(stage: Stage): Copy[];
  /** RUN lines of a stage, their text as written (continuations joined). */
  runs(stage: Stage): string[];
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  user?: string;
  workdir?: string;
  healthcheck?: Healthcheck;
}

/** Exec form only: a shell-form ENTRYPOINT/CMD would put `sh -c` in front and lose signals. */
function execForm(instruction: Instruction): string[] {
  const content = instruction.getArgumentsContent() ?? '';
  const json = (instruction as JSONInstruction).getJSONStrings?.() ?? [];
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    throw new Error(`${instruction.getKeyword()} is not in exec (JSON) form: ${content}`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`${instruction.getKeyword()}: not an array of strings: ${content}`);
  }
  // The parser recognised the same exec form (its getJSONValue drops spaces, so compare counts).
  if (json.length !== value.length) throw new Error(`${instruction.getKeyword()}: parser saw ${json.length} strings, JSON has ${value.length}`);
  return value as string[];
}

export function readDockerfile(file = DOCKERFILE): ImageModel {
  const text = fs.readFileSync(file, 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const directives = Object.fromEntries(dockerfile.getDirectives().map((d) => [d.getName(), d.getValue()]));

  const stages: Stage[] = [];
  // ARGs before the first FROM, at their defaults: what a plain `docker build` puts in FROM.
  const globalArgs: Record<string, string> = {};
  const withArgs = (image: string) => image.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => globalArgs[(a ?? b)!] ?? whole);
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === 'FROM') {
      const from = dockerfile.getFROMs().find((f) => f.getRange().start.line === instruction.getRange().start.line)!;
      stages.push({ name: from.getBuildStage() ?? undefined, from: withArgs(from.getImage() ?? ''), instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (keyword === 'ARG') {
        const [name, value = ''] = (instruction.getArgumentsContent() ?? '').trim().split(/=(.*)/s);
        globalArgs[name!] = value;
      }
      continue;
    }
    stages.at(-1)!.instructions.push(instruction);
  }
  if (stages.length === 0) throw new Error(`${file}: no FROM`);
  const final = stages.at(-1)!;

  const last = (keyword: string) => [...final.instructions].reverse().find((i) => i.getKeyword() === keyword);

  const env: Record<string, string> = {};
  for (const e of dockerfile.getENVs()) {
    if (!final.instructions.includes(e)) continue;
    for (const p of e.getProperties()) env[p.getName()] = p.getValue() ?? '';
  }

  let healthcheck: Healthcheck | undefined;
  const hc = dockerfile.getHEALTHCHECKs().find((h) => final.instructions.includes(h));
  if (hc) {
    const content = (hc.getArgumentsContent() ?? '').trim();
    const options = Object.fromEntries(hc.getFlags().map((f) => [f.getName(), f.getValue() ?? '']));
    if (hc.getSubcommand()?.getValue() !== 'CMD') throw new Error(`HEALTHCHECK: expected CMD, got ${content}`);
    const json = content.replace(/^CMD\s+/, '');
    healthcheck = { options, command: JSON.parse(json) as string[] };
  }

  const entrypoint = last('ENTRYPOINT');
  const cmd = last('CMD');
  const user = last('USER');
  const workdir = last('WORKDIR');

  return {
    directives,
    stages,
    final,
    copies(stage) {
      return dockerfile
        .getCOPYs()
        .filter((c) => stage.instructions.includes(c))
        .map((c) => {
          const args = c.getArguments().map((a) => a.getValue());
          return { from: c.getFromFlag()?.getValue() ?? undefined, sources: args.slice(0, -1), dest: args.at(-1)! };
        });
    },
    runs(stage) {
      return stage.instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => (i.getArgumentsContent() ?? '').replace(/\s+/g, ' ').trim());
    },
    entrypoint: entrypoint ? execForm(entrypoint) : [],
    cmd: cmd ? execForm(cmd) : [],
    env,
    user: user?.getArgumentsContent()?.trim(),
    workdir: workdir?.getArgumentsContent()?.trim(),
    healthcheck,
  };
}

export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** The image's user, from the final stage's `useradd ... --uid N --user-group ... NAME`. */
export function imageUser(image: ImageModel): ImageUser {
  const line = image.runs(image.final).find((r) => /\buseradd\b/.test(r));
  if (!line) throw new Error('Dockerfile.example: no useradd in the final stage');
  const words = /\buseradd\b([^&;|]*)/.exec(line)![1]!.trim().split(/\s+/);
  const option = (name: string) => (words.includes(name) ? words[words.indexOf(name) + 1] : undefined);
  const uid = Number(option('--uid'));
  if (!Number.isInteger(uid)) throw new Error(`useradd without --uid: ${line}`);
  if (!words.includes('--user-group')) throw new Error('useradd without --user-group: the tests assume gid = uid');
  const name = words.at(-1)!;
  return { name, uid, gid: uid, home: option('--home-dir') ?? option('-d') ?? `/home/${name}`, shell: option('--shell') ?? '/bin/sh' };
}
