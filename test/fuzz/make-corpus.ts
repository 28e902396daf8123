// Writes the seed corpus under test/fuzz/corpus/<target>/ (committed; run again only to
// add seeds): one valid input of each shape a decoder meets, from the project's own
// encoders and its shipped files. npx ts-node --transpile-only test/fuzz/make-corpus.ts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest } from '../../daemon/pam-frame';
import { integer, octets, seq, tlv } from '../../daemon/ldap-ber';
import { DEFAULT_CONFIG_YAML } from '../../daemon/config';

const ROOT = join(__dirname, '..', '..');
const out = (target: string, name: string, data: Buffer | string) => {
  const dir = join(__dirname, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), data);
};

// PAM frames: every opcode, a pipeline, limits
out('pam', '01-ping', encodeRequest('PING', []));
out('pam', '02-auth', encodeRequest('AUTH', ['netatalk', 'alice', 'Correct-Horse1', '192.0.2.1', 'ruser']));
out('pam', '03-acct', encodeRequest('ACCT', ['sshd', 'alice', '']));
out('pam', '04-chpw', encodeRequest('CHPW', ['samba', 'alice', 'Correct-Horse1', 'Correct-Horse2', '']));
out('pam', '05-chpw-root', encodeRequest('CHPW_ROOT', ['samba', 'alice', 'New-Password-9', '']));
out('pam', '06-pipeline', Buffer.concat([encodeRequest('PING', []), encodeRequest('AUTH', ['netatalk', 'bob', Buffer.from([0xe4, 0x8a, 0x9f]), '', '']), encodeRequest('PING', [])]));
out('pam', '07-limits', encodeRequest('CHPW', ['s'.repeat(64), 'u'.repeat(256), Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x42), 'h'.repeat(256)]));

// HTTP: the query socket's routes, and the admin socket's
const req = (method: string, path: string, body?: unknown, extra = '') => {
  const b = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return `${method} ${path} HTTP/1.1\r\nHost: nas\r\n${extra}${b ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n` : ''}\r\n${b}`;
};
out('http-query', '01-authenticate', req('POST', '/v1/authenticate', { user: 'alice', password: 'Correct-Horse1', service: 'dashboard', source: '192.0.2.7' }));
out('http-query', '02-authorize', req('POST', '/v1/authorize', { user: 'alice', service: 'smb' }));
out('http-query', '03-password', req('POST', '/v1/password', { user: 'alice', old_password: 'Correct-Horse1', new_password: 'Correct-Horse2' }));
out('http-query', '04-profile', req('POST', '/v1/profile', { user: 'alice', password: 'Correct-Horse1' }));
out('http-query', '05-health-metrics', req('GET', '/v1/health') + req('GET', '/v1/metrics'));
out('http-query', '06-chunked', 'POST /v1/authenticate HTTP/1.1\r\nHost: nas\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"user":"alice",\r\n0\r\n\r\n');
out('http-query', '07-unicode', req('POST', '/v1/authenticate', { user: '\u212Aate', password: 'pässwörd', service: 'smb\u0000' }));
// the query socket's front (daemon/http-fast.ts) against node:http: the forms the front
// answers, and what it hands over (fuzz.test.ts compares the two daemons' answers)
const hit = { user: 'alice', password: 'Correct-Horse1', service: 'smb' };
out('http-front', '01-authenticate', req('POST', '/v1/authenticate', { ...hit, source: '192.0.2.7' }));
out('http-front', '02-pipelined', req('POST', '/v1/authenticate', hit) + req('POST', '/v1/authenticate', { ...hit, password: 'Wrong-Horse1' }) + req('POST', '/v1/authenticate', hit));
out('http-front', '03-curl', req('POST', '/v1/authenticate', hit, 'User-Agent: curl/7.88.1\r\nAccept: */*\r\n').replace('Content-Type: application/json', 'Content-Type: application/x-www-form-urlencoded'));
out('http-front', '04-close', req('POST', '/v1/authenticate', hit, 'Connection: close\r\n'));
out('http-front', '05-then-health', req('POST', '/v1/authenticate', hit) + req('GET', '/v1/health') + req('POST', '/v1/authenticate', hit));
out('http-front', '06-chunked', 'POST /v1/authenticate HTTP/1.1\r\nHost: nas\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"user":"alice",\r\n0\r\n\r\n');
out('http-front', '07-unicode', req('POST', '/v1/authenticate', { user: '\u212Aate', password: 'pässwörd', service: 'smb\u0000' }));
out('http-admin', '01-list', req('GET', '/v1/admin/users'));
out('http-admin', '02-add', req('POST', '/v1/admin/users', { name: 'zed', password: 'Zebra-crossing-1', role: 'user', email: 'z@example.com', services: ['smb'] }, 'x-nasauth-actor: fuzz\r\n'));
out('http-admin', '03-patch', req('PATCH', '/v1/admin/users/zed', { email: null, full_name: 'Zed', enabled: false }));
out('http-admin', '04-password', req('POST', '/v1/admin/users/zed/password', { password: 'Zebra-crossing-2', must_change_password: true }));
out('http-admin', '05-groups', req('POST', '/v1/admin/groups', { name: 'media', gid: 2000 }) + req('POST', '/v1/admin/groups/media/members', { user: 'zed', add: true }));
out('http-admin', '06-status-doctor', req('GET', '/v1/admin/status') + req('GET', '/v1/admin/doctor/zed?service=smb'));
out('http-admin', '07-escaped', req('GET', '/v1/admin/users/%7a%65%64') + req('DELETE', '/v1/admin/users/zed'));
out('http-admin', '08-import', req('POST', '/v1/admin/import', { sources: { dir: '/x', files: {}, passwd: [], shadow: [], group: [], smb: [], meta: [] }, dry_run: true }));

// LDAP: a bind, searches with every filter kind, a modify, the extended operations
const ADMIN = 'cn=samba,dc=nas,dc=local';
const bind = (id: number, pw: string) => seq([integer(id), seq([integer(3), octets(ADMIN), octets(pw, 0x80)], 0x60)]);
const eq = (a: string, v: string) => seq([octets(a), octets(v)], 0xa3);
const search = (id: number, base: string, filter: Buffer, attrs: string[] = []) =>
  seq([integer(id), seq([octets(base), integer(2, 0x0a), integer(0, 0x0a), integer(0), integer(0), tlv(0x01, Buffer.from([0])), filter, seq(attrs.map((a) => octets(a)))], 0x63)]);
const SFX = 'dc=nas,dc=local';
out('ldap', '01-bind-anon-rootdse', Buffer.concat([seq([integer(1), seq([integer(3), octets(''), octets('', 0x80)], 0x60)]), search(2, '', tlv(0x87, Buffer.from('objectClass')))]));
out('ldap', '02-bind-search-and', Buffer.concat([bind(1, 'not-the-secret-but-long'), search(2, SFX, seq([eq('uid', 'alice'), eq('objectClass', 'sambaSamAccount')], 0xa0), ['uid', 'sambaNTPassword'])]));
out('ldap', '03-or-not-substr', search(3, SFX, seq([seq([eq('uid', 'a')], 0xa2), seq([octets('uid'), seq([tlv(0x80, Buffer.from('al')), tlv(0x81, Buffer.from('i')), tlv(0x82, Buffer.from('e'))])], 0xa4)], 0xa1)));
out('ldap', '04-ge-le-approx', search(4, SFX, seq([seq([octets('uidNumber'), octets('1000')], 0xa5), seq([octets('uidNumber'), octets('9999')], 0xa6), seq([octets('cn'), octets('alice')], 0xa8)], 0xa0)));
out('ldap', '05-extensible', search(5, SFX, seq([tlv(0x81, Buffer.from('1.2.840.113556.1.4.803')), tlv(0x82, Buffer.from('sambaAcctFlags')), tlv(0x83, Buffer.from('U'))], 0xa9)));
out('ldap', '06-modify', seq([integer(6), seq([octets(`uid=alice,ou=people,${SFX}`), seq([seq([integer(2, 0x0a), seq([octets('sambaBadPasswordCount'), seq([octets('1')], 0x31)])])])], 0x66)]));
out('ldap', '07-passwd-exop', seq([integer(7), seq([tlv(0x80, Buffer.from('1.3.6.1.4.1.4203.1.11.1')), tlv(0x81, seq([tlv(0x80, Buffer.from('alice')), tlv(0x82, Buffer.from('New-Pass-7'))]))], 0x77)]));
out('ldap', '08-add-del-compare-unbind', Buffer.concat([
  seq([integer(8), seq([octets(`uid=x,${SFX}`), seq([])], 0x68)]), seq([integer(9), tlv(0x4a, Buffer.from(`uid=x,${SFX}`))]),
  seq([integer(10), seq([octets(`uid=alice,ou=people,${SFX}`), seq([octets('uid'), octets('alice')])], 0x6e)]), seq([integer(11), tlv(0x42, Buffer.alloc(0))]),
]));
out('ldap', '09-paged-control', seq([integer(12), seq([octets(SFX), integer(2, 0x0a), integer(0, 0x0a), integer(0), integer(0), tlv(0x01, Buffer.from([0])), tlv(0x87, Buffer.from('objectClass')), seq([])], 0x63),
  seq([seq([octets('1.2.840.113556.1.4.319'), tlv(0x01, Buffer.from([0xff])), octets(seq([integer(100), octets('')]))])], 0xa0)]));

// config: the device's file, the embedded default, a few shapes
out('config', '01-device.yaml', readFileSync(join(ROOT, 'sysroot', 'etc', 'nasauth', 'nasauth.yaml')));
out('config', '02-default.yaml', DEFAULT_CONFIG_YAML);
out('config', '03-flow.yaml', 'version: 1\nsockets: { pam: { path: /run/x/pam.sock, mode: "0666", group: null } }\nlog: { level: debug, file: null }\nservices: { smb: { roles: [admin, user] } }\n');
out('config', '04-anchors.yaml', 'version: 1\nx: &a [1, 2]\nroles: { admin: { default_services: [smb] }, user: { default_services: [smb] } }\n');

// import formats
out('import-passwd', '01', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1001:100:Alice,Room 1,,:/shares/alice:/bin/sh\n# comment\n\nbob:x:1002:100::/home/bob:/usr/sbin/nologin\n');
out('import-shadow', '01', 'root:*:19000:0:99999:7:::\nalice:$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghijkl:19500:0:99999:7:::\nbob:!:19500::::::\n');
out('import-group', '01', 'root:x:0:\nusers:x:100:alice,bob\nmedia:x:2000:alice\n');
out('import-smbpasswd', '01', 'alice:1001:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:0123456789ABCDEF0123456789ABCDEF:[U          ]:LCT-5F5E0F00:\nbob:1002:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[DU         ]:LCT-00000000:\n');
out('import-meta-yaml', '01.yaml', 'users:\n  alice: { email: alice@example.com, full_name: "Alice A", role: admin, services: [smb, afp], enabled: true }\n  bob:\n    email: null\n    services: [dashboard]\n  carol:\n');
out('import-meta-csv', '01.csv', 'name,email,full_name,role,services,enabled\nalice,alice@example.com,"Alice, A",admin,smb;afp,yes\nbob,,"Bob ""B""",user,dashboard,no\n');
