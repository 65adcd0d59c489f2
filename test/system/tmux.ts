/** One private tmux server per test, driving an interactive CLI, and the screens the CLI shows. */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onTestFinished } from 'vitest';
import { processTree, waitGone } from './procs';

export const haveTmux = spawnSync('tmux', ['-V']).status === 0;

/** One tmux server (own socket) with one session, killed when the test ends. */
export class Tmux {
  readonly socket: string;
  private readonly output: string;
  readonly name = `ce-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly conf: string;

  constructor(dir: string) {
    this.socket = path.join(dir, 'tmux.sock');
    this.conf = path.join(dir, 'tmux.conf');
    this.output = path.join(dir, 'output.log');
    // remain-on-exit: the pane (and its last screen) stays after the command ends.
    fs.writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g default-terminal xterm-256color\n');
  }

  private tmux(args: string[], env?: NodeJS.ProcessEnv): string {
    const r = spawnSync('tmux', ['-S', this.socket, '-f', this.conf, ...args], { encoding: 'utf8', env: env ?? process.env });
    if (r.status !== 0) throw new Error(`tmux ${args[0]} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /**
   * The server is started by this call with exactly `env`, so the pane inherits it and
   * nothing else; the command is exec'd directly (several arguments: no shell).
   */
  start(argv: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): void {
    // Registered after the test's temp dirs, so it runs before they are removed: the CLI
    // must be gone before its HOME is (vitest runs these hooks last-in, first-out).
    onTestFinished(async () => {
      let tree: number[] = [];
      try {
        tree = processTree(this.pid());
      } catch {
        // no session
      }
      spawnSync('tmux', ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
      for (const pid of await waitGone(tree, 3_000)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await waitGone(tree, 2_000);
    });
    // pipe-pane in the same command queue, before the command has had time to print: the
    // raw output is kept, even what the CLI's full-screen UI later clears from the pane.
    this.tmux(
      ['new-session', '-d', '-s', this.name, '-x', '120', '-y', '40', '-c', options.cwd, ...argv, ';', 'pipe-pane', '-t', this.name, `cat >> '${this.output}'`],
      options.env,
    );
  }

  /** Everything the command wrote to the terminal so far, line ends normalised. */
  rawOutput(): string {
    return fs.existsSync(this.output) ? fs.readFileSync(this.output, 'utf8').replace(/\r/g, '') : '';
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-t', this.name]);
  }

  display(format: string): string {
    return this.tmux(['display-message', '-p', '-t', this.name, format]).trim();
  }

  pid(): number {
    return Number(this.display('#{pane_pid}'));
  }

  dead(): boolean {
    return this.display('#{pane_dead}') === '1';
  }

  keys(...keys: string[]): void {
    this.tmux(['send-keys', '-t', this.name, ...keys]);
  }

  type(text: string): void {
    this.tmux(['send-keys', '-t', this.name, '-l', text]);
  }

  /** Poll the screen until `done`; stop early (and fail) on `fail` or when the pane dies. */
  async waitFor(
    what: string,
    done: (screen: string) => boolean,
    options: { timeoutMs?: number; fail?: (screen: string) => string | undefined } = {},
  ): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 40_000);
    for (;;) {
      const screen = this.screen();
      if (done(screen)) return screen;
      const failure = options.fail?.(screen) ?? (this.dead() ? 'the command ended' : undefined);
      if (failure || Date.now() > deadline) {
        throw new Error(`waiting for ${what}: ${failure ?? 'timed out'}; the screen:\n${screen}`);
      }
      await sleep(200);
    }
  }

  async waitForExit(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.dead()) {
      if (Date.now() > deadline) throw new Error(`the session did not end; the screen:\n${this.screen()}`);
      await sleep(200);
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const PROMPT = /^❯/m; // the main prompt; dialog choices are indented ("  ❯ No, exit")
export const CTRL_C_HINT = /Press Ctrl-C again to exit/;
/** Screens that mean the session will not reach the prompt by itself. */
export const BLOCKERS: [RegExp, string][] = [
  [/Do you trust|trust this folder|Accessing workspace/i, 'the trust dialog'],
  [/Detected a custom API key/i, 'the custom API key question'],
  [/Choose the text style|Let's get started|Select login method|Dark mode/i, 'onboarding'],
  [/Unable to connect to Anthropic services/i, 'the connectivity check (onboarding not done)'],
  [/Not logged in|Invalid API key|Please run \/login/i, 'an authentication error'],
];
export const blocker = (screen: string) => BLOCKERS.find(([re]) => re.test(screen))?.[1];
