#!/usr/bin/env bash
# scripts/pg-replica.sh starts a private PostgreSQL primary and a streaming
# replica of it (pg_basebackup -R) from the system's PostgreSQL binaries, for
# the read-replica test; it never touches a shared server.
#
# Usage:
#   scripts/pg-replica.sh start DIR PRIMARY_PORT REPLICA_PORT
#       make both clusters under DIR (outside the repository or git-ignored;
#       its owner must be able to reach it, e.g. under /tmp),
#       start them on 127.0.0.1 and print two lines: the primary's URL, then
#       the replica's
#   scripts/pg-replica.sh stop DIR
#       stop both and remove DIR
#
# As root the clusters belong to an unprivileged user, as with scripts/pg.sh:
# the postgres system user if it exists, else a system user 'rapport'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
die() {
	printf 'pg-replica.sh: error: %s\n' "$*" >&2
	exit 1
}

RUN_USER=""
if [[ $(id -u) -eq 0 ]]; then
	if id postgres >/dev/null 2>&1; then
		RUN_USER=postgres
	else
		id rapport >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin rapport >&2 ||
			die "running as root and cannot create an unprivileged user"
		RUN_USER=rapport
	fi
fi

as_owner() {
	if [[ -z $RUN_USER ]]; then
		"$@"
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u "$RUN_USER" -- "$@")
	else
		local q
		printf -v q '%q ' "$@"
		(cd / && su -s /bin/sh "$RUN_USER" -c "$q")
	fi
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start DIR PRIMARY_PORT REPLICA_PORT | stop DIR"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
bindir=$("$ROOT/scripts/pg.sh" bindir)

case $cmd in
start)
	pport=${3:?primary port} rport=${4:?replica port}
	chmod 755 "$dir"
	[[ -z $RUN_USER ]] || chown "$RUN_USER" "$dir"
	as_owner "$bindir/initdb" -D "$dir/primary" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	# initdb's pg_hba.conf already trusts replication connections from 127.0.0.1.
	as_owner "$bindir/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w -t 60 \
		-o "-p $pport -k $dir -c listen_addresses=127.0.0.1 -c wal_level=replica -c max_wal_senders=4 -c fsync=off" start >/dev/null ||
		{ cat "$dir/primary.log" >&2; die "primary did not start"; }
	as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$dir/replica" -R -X stream >"$dir/basebackup.log" 2>&1 ||
		{ cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
	as_owner "$bindir/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w -t 60 \
		-o "-p $rport -k $dir -c listen_addresses=127.0.0.1 -c hot_standby=on" start >/dev/null ||
		{ cat "$dir/replica.log" >&2; die "replica did not start"; }
	echo "postgres://postgres@127.0.0.1:$pport/postgres?sslmode=disable"
	echo "postgres://postgres@127.0.0.1:$rport/postgres?sslmode=disable"
	;;
stop)
	for c in replica primary; do
		if [[ -d $dir/$c ]]; then
			as_owner "$bindir/pg_ctl" -D "$dir/$c" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$dir"
	;;
*)
	die "unknown command $cmd"
	;;
esac
