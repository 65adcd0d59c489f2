/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost, made
 * at test time with the openssl CLI (node:crypto cannot issue X.509 certificates). The CA
 * file is what a test puts in NODE_EXTRA_CA_CERTS, so the bundle and the SDKs inside it trust
 * the fake servers the way they would trust a real service: no TLS checks turned off.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCa {
  /** PEM file of the CA certificate: the value for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  caPem: string;
  /** Server key and certificate (with the CA appended), for https.createServer. */
  key: string;
  cert: string;
  /** Removes the files. */
  cleanup(): void;
}

export interface TestCaOptions {
  /** Extra subjectAltName DNS names for the server certificate (localhost is always there). */
  dnsNames?: string[];
}

/** Two EC keys and two certificates: about 50 ms. */
export function makeTestCa(options: TestCaOptions = {}): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-entry-ca-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  openssl(
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=claude-entry test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  const names = ['DNS:localhost', 'IP:127.0.0.1', ...(options.dnsNames ?? []).map((n) => `DNS:${n}`)];
  fs.writeFileSync(
    file('server.ext'),
    ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', `subjectAltName=${names.join(',')}`].join(
      '\n',
    ) + '\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  );

  const caPem = fs.readFileSync(file('ca.pem'), 'utf8');
  return {
    caFile: file('ca.pem'),
    caPem,
    key: fs.readFileSync(file('server.key'), 'utf8'),
    cert: fs.readFileSync(file('server.pem'), 'utf8'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
