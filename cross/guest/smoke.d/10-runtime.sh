# The bundled runtime: arch, version, child processes, crypto.
N=/opt/nasauth/bin/node
step node-version
out=$($N -e 'console.log(process.arch, process.version)') || fail "node rc=$?"
case "$out" in "arm v20."*) ;; *) fail "got '$out'" ;; esac
metric node=${out#arm }
t=$(now_ms); $N -e 0 || fail "node -e 0"; metric node_start_ms=$(( $(now_ms) - t ))

step child-process
$N -e 'const r = require("child_process").execFileSync(process.execPath, ["-p", "6*7"]).toString().trim(); if (r !== "42") { console.error("got", r); process.exit(1); }' || fail

step crypto
m=$($N -e '
const c = require("crypto");
const h = c.createHash("sha256").update("abc").digest("hex");
if (h !== "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") { console.error("sha256", h); process.exit(1); }
const t = Date.now();
const k = c.scryptSync("pleaseletmein", "SodiumChloride", 64, { N: 16384, r: 8, p: 1 }).toString("hex");
if (!k.startsWith("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2")) { console.error("scrypt", k); process.exit(1); }
console.log("scrypt_n14_ms=" + (Date.now() - t));
') || fail
metric "$m"
