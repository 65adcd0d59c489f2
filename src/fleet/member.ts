/**
 * A fleet member's run: the fleet starts before the command (a login that has expired is
 * refreshed first), keeps the state file's fleet view current for `check` and `doctor`, and
 * gives the lease back when the command has exited.
 */
import { messageOf } from '../errors.js';
import type { ClaudePaths } from '../home.js';
import { ownedBySelf } from '../home.js';
import type { Logger } from '../log.js';
import { resolveCommand } from '../run.js';
import { readState, writeState } from '../state.js';
import type { SyncStore } from '../sync/store.js';
import { fleetMemberName, startFleet } from './fleet.js';

export interface MemberOptions {
  config: { timeoutMs: number; fleetRefreshBeforeMs: number; fleetPollMs: number };
  store: SyncStore;
  paths: ClaudePaths;
  /** The command's environment (PATH finds claude; proxies and CA for the login). */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Starts the command; resolves with its exit code. */
  start: () => Promise<number>;
}

export async function runFleetMember(options: MemberOptions): Promise<number> {
  const { config, store, paths, env, log } = options;
  let claude: string | undefined;
  try {
    claude = resolveCommand('claude', env.PATH);
  } catch (error) {
    log.debug(`fleet: no claude binary on PATH (${messageOf(error)})`);
  }
  const me = fleetMemberName();
  let lastStatus: string | undefined;
  const fleet = startFleet({
    store,
    credentialsPath: paths.credentialsPath,
    log,
    timeoutMs: config.timeoutMs,
    me,
    claude,
    env,
    timing: {
      refreshBeforeMs: config.fleetRefreshBeforeMs,
      pollMs: config.fleetPollMs,
      fastPollMs: Math.min(5000, config.fleetPollMs),
      graceMs: Math.min(2 * 60_000, Math.max(config.fleetRefreshBeforeMs / 4, 5000)),
    },
    onStatus: (status) => {
      // Written when something changed, not at every look at the store.
      const key = JSON.stringify({ ...status, at: undefined });
      if (key === lastStatus) return;
      lastStatus = key;
      const state = readState(paths.configDir);
      if (!state) return;
      try {
        writeState(paths.configDir, { ...state, fleet: { ...status, me } }, ownedBySelf(log));
      } catch (error) {
        log.debug(`fleet: cannot write the state file: ${messageOf(error)}`);
      }
    },
  });
  // The first look at the store (lease, a refresh that is due) before the command starts.
  await fleet.ready;
  const code = await options.start();
  await fleet.stop();
  return code;
}
