// nasauth-web-cert: a self-signed certificate for the web page, made on the device at
// install (each NAS its own key) unless the builder supplies one. EC P-256, SHA-256,
// the host name, "localhost" and 127.0.0.1 as subject alternative names. A separate
// bundle, so that nasauth-web itself carries no X.509 code.
//   nasauth-web-cert --cert FILE --key FILE [--hostname NAME] [--days N] [--group NAME]
// The key is written 0600 (0640 and group NAME with --group), the certificate 0644,
// each through a temporary file and a rename. Exit codes: 0 written, 2 usage.
import { chmodSync, chownSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import * as selfsigned from 'selfsigned';

function die(code: number, msg: string): never {
  process.stderr.write(`nasauth-web-cert: ${msg}\n`);
  process.exit(code);
}

function groupId(name: string): number {
  for (const l of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = l.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  return die(2, `--group ${name}: no such group in /etc/group`);
}

export async function main(argv = process.argv.slice(2)) {
  let a;
  try {
    a = parseArgs({ args: argv, strict: true, options: { cert: { type: 'string' }, key: { type: 'string' }, hostname: { type: 'string' }, days: { type: 'string' }, group: { type: 'string' } } }).values;
  } catch (e) { die(2, (e as Error).message); }
  if (!a.cert || !a.key) die(2, 'usage: nasauth-web-cert --cert FILE --key FILE [--hostname NAME] [--days N] [--group NAME]');
  const days = Number(a.days ?? 3650);
  if (!Number.isInteger(days) || days < 1 || days > 36500) die(2, `--days ${a.days}: expected a whole number of days from 1 to 36500`);
  const host = a.hostname ?? hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(host)) die(2, `--hostname ${host}: not a host name`);
  const gid = a.group ? groupId(a.group) : null;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }, { name: 'organizationName', value: 'nasauth (self-signed)' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate: notBefore, notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  } as never);
  const old = process.umask(0o077);
  try {
    writeFileSync(`${a.key}.tmp`, pems.private, { mode: 0o600 });
    if (gid !== null) { chownSync(`${a.key}.tmp`, 0, gid); chmodSync(`${a.key}.tmp`, 0o640); }
    renameSync(`${a.key}.tmp`, a.key);
    writeFileSync(`${a.cert}.tmp`, pems.cert);
    chmodSync(`${a.cert}.tmp`, 0o644);
    renameSync(`${a.cert}.tmp`, a.cert);
  } finally { process.umask(old); }
  process.stdout.write(`nasauth-web-cert: a self-signed certificate for ${host}, valid ${days} days, fingerprint ${pems.fingerprint}, in ${a.cert}\n`);
}

if (require.main === module) main().catch((e) => die(1, (e as Error).stack ?? String(e)));
