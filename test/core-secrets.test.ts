// No secret in a log line: drive every path that carries a password, then search the
// whole log for the passwords, their NT hashes and the stored verifiers.
import t from 'tap';
import { addUser, authenticate, cleanup, cli, http, oneTimePassword, readStore, startDaemon } from './helpers/daemon';
import { ntHash } from '../daemon/password';
import { makeLogger } from '../daemon/log';
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

t.test('no password, hash or verifier reaches the log', async (t) => {
  const d = await startDaemon({ config: { log: { level: 'trace' } }, createAdmin: true });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const secrets = ['Correct-horse-1', 'Battery-staple-2', 'wrong-guess-77', 'Ünïcödé-pässwörd-3', 'short'];
  await addUser(d, 'alice', secrets[0], ['--email', 'a@example.com']);
  await authenticate(d, 'alice', secrets[0]);
  await authenticate(d, 'alice', secrets[0]);
  await authenticate(d, 'alice', secrets[2]);
  await authenticate(d, 'nosuchuser', secrets[2]);
  await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: secrets[0], new_password: secrets[1] });
  await http(d.query, 'POST', '/v1/password', { user: 'alice', old_password: secrets[1], new_password: secrets[4] });
  await http(d.query, 'POST', '/v1/profile', { user: 'alice', password: secrets[1] });
  await cli(d, ['user', 'passwd', 'alice'], secrets[3] + '\n');
  await authenticate(d, 'alice', secrets[3]);
  await http(d.query, 'POST', '/v1/authenticate', Buffer.from(`{"user":"alice","password":"${secrets[3]}"`)); // malformed
  const store = readStore(d);
  const verifiers = Object.values(store.accounts as Record<string, { verifiers: Record<string, string> }>).flatMap((a) => Object.values(a.verifiers));
  const admin = oneTimePassword(d) ?? '';
  await d.stop();
  const log = d.logs();
  t.ok(log.length > 500, 'there is a log to search');
  const needles = [...secrets, admin, ...secrets.map((s) => ntHash(Buffer.from(s)).toString('hex')), ...secrets.map((s) => ntHash(Buffer.from(s)).toString('hex').toUpperCase()), ...verifiers, ...verifiers.map((v) => v.split('$').pop()!)];
  for (const n of needles) t.notOk(log.includes(n), `not in the log: ${n.slice(0, 6)}…`);
  t.match(log, /"audit":"authenticate"/, 'decisions are audited');
  t.match(log, /"audit":"password_set".*"by":/, 'admin changes say who');
});

t.test('the redaction backstop censors secret-named fields', async (t) => {
  let out = '';
  const sink = new Writable({ write(c, _e, cb) { out += c; cb(); } });
  const log = makeLogger('info', null, sink);
  log.info({ password: 'p1-secret', req: { new_password: 'p2-secret', verifiers: { nt: 'ABCDEF' } }, user: 'alice' }, 'x');
  t.notMatch(out, /p1-secret|p2-secret|ABCDEF/);
  t.match(out, /\[redacted\]/);
  t.match(out, /alice/);
});
