# The armhf memory floor (issue 15): bare node:http (bench/lib/floor.js, the host
# benchmark's floor) idle in this same guest, read like the daemon's idle RSS below
# (VmRSS 1 s after it answers), so the two are compared in one boot.
step floor-rss
N=/opt/nasauth/bin/node
FSOCK=/tmp/floor.sock
$N /smoke/floor.js http "$FSOCK" &
FPID=$!
i=0
until $N /smoke/q.js "$FSOCK" POST /v1/authenticate '{"user":"x"}' >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -le 120 ] || { kill "$FPID" 2>/dev/null; fail "the floor server did not answer"; }
  sleep 1
done
sleep 1
metric floor_rss_kb=$(rss_of "$FPID")
kill "$FPID"
wait "$FPID" 2>/dev/null
rm -f "$FSOCK"
