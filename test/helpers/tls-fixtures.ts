// A self-signed certificate for `localhost`, 127.0.0.1 and ::1, valid for 100 years, for TLS tests
// only. Clients trust it by passing `ca: cert`.
import { readFileSync } from 'node:fs';

const fixtures = new URL('../fixtures/', import.meta.url);

/** PEM certificate (also the CA a test client passes as `ca`). */
export const cert = readFileSync(new URL('localhost-cert.pem', fixtures));
/** PEM private key for `cert`. */
export const key = readFileSync(new URL('localhost-key.pem', fixtures));
