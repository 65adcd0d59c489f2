import { writeSync } from 'node:fs';
import { maskCredentialShapes } from './errors.js';

/**
 * Levelled log lines on stderr, prefixed `claude-entry:`, or one JSON object a line.
 * Every line passes through redact(): a secret registered with addSecret() can never be
 * printed, even by a bug that puts one in a message, and neither can anything shaped like an
 * Anthropic token or base64 JSON (a secret nobody registered: a pasted one, a provider's).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  addSecret(secret: string | undefined): void;
  redact(text: string): string;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  write?: (line: string) => void;
}

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (v === 'warning') return 'warn';
  if (v === 'quiet' || v === 'none' || v === 'off') return 'silent';
  return v in rank ? (v as LogLevel) : undefined;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const json = options.json ?? false;
  const write = options.write ?? writeStderr;
  const secrets = new Set<string>();

  const redact = (text: string): string => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
    return maskCredentialShapes(out);
  };

  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string) => {
    if (rank[lvl] < rank[level]) return;
    const text = redact(msg.replace(/\s*\n\s*/g, ' '));
    if (json) {
      write(JSON.stringify({ time: new Date().toISOString(), level: lvl, name: 'claude-entry', msg: text }) + '\n');
    } else {
      const tag = lvl === 'info' ? '' : lvl === 'warn' ? 'warning: ' : `${lvl}: `;
      write(`claude-entry: ${tag}${text}\n`);
    }
  };

  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    addSecret(secret) {
      // Short strings would redact ordinary words; real secrets are long.
      if (secret && secret.length >= 8) secrets.add(secret);
    },
    redact,
  };
}

/**
 * Straight to fd 2: creating process.stderr loads Node's stream, net and tty machinery
 * (measured: about 6 ms of every start). A non-blocking pipe that is full falls back to it.
 */
function writeStderr(line: string): void {
  try {
    writeSync(2, line);
  } catch {
    process.stderr.write(line);
  }
}

/**
 * A command's answer (help, version, check, doctor), straight to fd 1 for the same reason: a
 * first process.stdout.write costs `check`, which runs at every HEALTHCHECK interval, about
 * 6 ms. Every byte: what a non-blocking pipe does not take goes through process.stdout.
 */
export function writeStdout(text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  try {
    while (offset < bytes.length) offset += writeSync(1, bytes, offset, bytes.length - offset);
  } catch {
    process.stdout.write(bytes.subarray(offset));
  }
}
