#!/usr/bin/env bash
# Starts an sshd on 127.0.0.1:2222 that accepts one client key, for the Slurm-over-SSH tests.
# apt: openssh-server
# Idempotent. Files under $DIR: key (client private key), key.pub, hostkey.pub (the server's host key,
# what a cluster's `hostKey` must name).
set -euo pipefail

DIR=${CATAPULT_SSHD_DIR:-/var/tmp/catapult-test-infra/sshd}
PORT=${CATAPULT_SSHD_PORT:-2222}

[ -x /usr/sbin/sshd ] || { echo "sshd.sh: /usr/sbin/sshd is missing; install openssh-server (this script's '# apt:' line)" >&2; exit 1; }
command -v ssh-keygen >/dev/null || { echo "sshd.sh: ssh-keygen is missing; install openssh-client" >&2; exit 1; }

mkdir -p "$DIR" /run/sshd
chmod 755 "$DIR"
[ -s "$DIR/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/hostkey"
[ -s "$DIR/key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/key"
cp "$DIR/key.pub" "$DIR/authorized_keys"
# The client key is read by the tests (run as the same user).
chmod 600 "$DIR/key"

cat > "$DIR/sshd_config.new" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/hostkey
PidFile $DIR/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $DIR/authorized_keys
StrictModes no
UsePAM no
MaxSessions 64
MaxStartups 64:30:128
Subsystem sftp internal-sftp
CONF
running() { [ -s "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; }
if ! cmp -s "$DIR/sshd_config.new" "$DIR/sshd_config"; then
  mv "$DIR/sshd_config.new" "$DIR/sshd_config"
  # A changed configuration needs a fresh sshd.
  if running; then kill "$(cat "$DIR/sshd.pid")"; sleep 0.5; fi
else
  rm -f "$DIR/sshd_config.new"
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if running && listening; then
  echo "sshd: up on 127.0.0.1:$PORT (keys in $DIR)"
  exit 0
fi
/usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
for _ in $(seq 1 40); do
  if listening; then echo "sshd: up on 127.0.0.1:$PORT (keys in $DIR)"; exit 0; fi
  sleep 0.25
done
echo "sshd.sh: sshd did not listen on 127.0.0.1:$PORT; see $DIR/sshd.log" >&2
exit 1
