/**
 * `REF#key`: a secret whose value is a JSON object of several keys (common in AWS) holds the
 * credential under one key. Without `#key` the whole value is the payload.
 */
import { ConfigError } from '../errors.js';

/** Split `ref#key`; the key is everything after the last `#`. */
export function splitKeySelector(ref: string): { ref: string; key?: string } {
  const hash = ref.lastIndexOf('#');
  if (hash < 0) return { ref };
  const key = ref.slice(hash + 1);
  if (key === '') throw new ConfigError(`${ref}: empty key after "#"`);
  return { ref: ref.slice(0, hash), key };
}

/**
 * The value under `key` in a JSON object secret. A string value is the payload itself; an
 * object value (a credentials JSON stored unstringified) is re-serialised.
 */
export function selectJsonKey(payload: string | Buffer, key: string, source: string): string {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    throw new ConfigError(`${source}: "#${key}" selects a key, but the secret is not a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${source}: "#${key}" selects a key, but the secret is not a JSON object`);
  }
  if (!Object.hasOwn(value, key)) {
    const keys = Object.keys(value)
      .slice(0, 10)
      .map((k) => JSON.stringify(k))
      .join(', ');
    throw new ConfigError(`${source}: the secret has no key "${key}" (it has ${keys || 'no keys'})`);
  }
  const selected = (value as Record<string, unknown>)[key];
  if (typeof selected === 'string') return selected;
  if (typeof selected === 'object' && selected !== null) return JSON.stringify(selected);
  throw new ConfigError(`${source}: the value under "${key}" is not a string or an object`);
}

/**
 * Every string in a JSON secret (the keys not selected may be secrets too), for the logger's
 * redaction. Nothing when it is not JSON.
 */
export function stringsIn(payload: string | Buffer): string[] {
  const out: string[] = [];
  const walk = (value: unknown, depth: number) => {
    if (depth > 8 || out.length > 1000) return;
    if (typeof value === 'string') out.push(value);
    else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) walk(v, depth + 1);
  };
  try {
    walk(JSON.parse(payload.toString()), 0);
  } catch {
    // not JSON: the caller registers the whole payload
  }
  return out;
}
