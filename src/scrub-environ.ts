/**
 * A supervisor that runs as the same uid as its command (`docker run --user`, Kubernetes
 * runAsNonRoot) can be read by that command: /proc/<pid>/environ shows the environment block
 * the process was started with, whatever was deleted from process.env since (delete only drops
 * a pointer). So before supervising, claude-entry clears, in that block itself, every variable
 * the command was not given the same value of (a CLAUDE_CREDENTIALS_B64, a key removed from
 * the command's environment), through /proc/self/mem, which a process may always write for
 * itself. Afterwards the supervisor's environment is exactly the command's.
 */
import * as fs from 'node:fs';

/** Clear what the child was not given; returns the names cleared. Best effort: never throws. */
export function scrubEnvironmentBlock(childEnv: NodeJS.ProcessEnv): string[] {
  const cleared: string[] = [];
  for (const name of Object.keys(process.env)) {
    if (childEnv[name] === process.env[name]) continue;
    // setenv copies the value to the heap and unsetenv drops the pointer: either way nothing
    // points into the block any more, so clearing it cannot pull a value from under Node.
    if (childEnv[name] === undefined) delete process.env[name];
    else process.env[name] = childEnv[name];
  }
  let fd: number | undefined;
  try {
    const { start, end } = environmentBlock();
    fd = fs.openSync('/proc/self/mem', 'r+');
    const block = Buffer.alloc(end - start);
    fs.readSync(fd, block, 0, block.length, start);
    let offset = 0;
    while (offset < block.length) {
      let stop = block.indexOf(0, offset);
      if (stop === -1) stop = block.length;
      const entry = block.toString('utf8', offset, stop);
      const equals = entry.indexOf('=');
      if (equals > 0) {
        const name = entry.slice(0, equals);
        if (childEnv[name] !== entry.slice(equals + 1)) {
          fs.writeSync(fd, Buffer.alloc(stop - offset), 0, stop - offset, start + offset);
          cleared.push(name);
        }
      }
      offset = stop + 1;
    }
  } catch {
    // No /proc (or a kernel that refuses the write): nothing more can be done from here; the
    // README says to start as root (the drop makes the process unreadable to the user).
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return cleared;
}

/** Fields 50 and 51 of /proc/self/stat (Linux 3.5+): where the environment block lies. */
function environmentBlock(): { start: number; end: number } {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[50 - 3]);
  const end = Number(fields[51 - 3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start || end - start > 16 * 1024 * 1024) {
    throw new Error('no environment block');
  }
  return { start, end };
}
