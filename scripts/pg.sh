#!/usr/bin/env bash
# scripts/pg.sh finds or starts a PostgreSQL server for development and tests
# and prints a connection URL on stdout. Everything else goes to stderr, so
#
#     DATABASE_URL=$(scripts/pg.sh)
#
# is all a Makefile or a shell needs.
#
# Usage:
#   scripts/pg.sh [url]      print a usable URL, starting a private cluster if needed
#   scripts/pg.sh --test     the same, but TEST_DATABASE_URL is honoured first
#   scripts/pg.sh --db NAME  the same, naming database NAME (created if missing)
#                            instead of postgres, unless the URL comes from the environment
#   scripts/pg.sh stop       stop the private cluster (never a system-wide server)
#   scripts/pg.sh status     say which server would be used and whether it runs
#   scripts/pg.sh psql [ARGS]  open psql on the URL (after --db NAME, on that database)
#   scripts/pg.sh reachable  exit 0 when a server is already reachable without starting one
#   scripts/pg.sh bindir     print the directory holding initdb/pg_ctl/postgres, or fail
#
# Order of preference:
#   1. TEST_DATABASE_URL (with --test), then DATABASE_URL, used as given;
#   2. a server answering on 127.0.0.1:5432 with trust auth for user postgres;
#   3. a private cluster under the git-ignored .pgdata/ directory, made from the
#      system's PostgreSQL binaries, listening on 127.0.0.1:${RAPPORT_PG_PORT:-54329}.
#
# Environment:
#   RAPPORT_PG_PORT           port of the private cluster (default 54329)
#   RAPPORT_PG_FORCE_PRIVATE  1 = skip steps 1 and 2 and always use the private cluster
#   RAPPORT_PG_BINDIR         directory of initdb/pg_ctl/postgres to use
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PORT=${RAPPORT_PG_PORT:-54329}
SYSTEM_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
PRIVATE_URL="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"
PGDATA_DIR="$ROOT/.pgdata"

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() {
	printf 'pg.sh: error: %s\n' "$*" >&2
	exit 1
}

# hash_of prints a short stable hash of its argument.
hash_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		printf '%s' "$1" | sha256sum | cut -c1-12
	else
		printf '%s' "$1" | shasum -a 256 | cut -c1-12
	fi
}

# answers reports whether url accepts a trust-authenticated `select 1`.
answers() {
	local url=$1 host port
	if command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=3 psql "$url" -X -A -t -q -c 'select 1' >/dev/null 2>&1
		return
	fi
	host=$(printf '%s' "$url" | sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#')
	port=$(printf '%s' "$url" | sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p')
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -t 3 -h "$host" -p "${port:-5432}"
		return
	fi
	# Neither client is installed: a bare TCP connect is the best we can do.
	(exec 3<>"/dev/tcp/$host/${port:-5432}") 2>/dev/null
}

# find_bindir prints the directory holding initdb, pg_ctl and postgres: the
# highest Debian/Ubuntu version, then Homebrew's, then whatever is on PATH.
find_bindir() {
	local d candidates=()
	if [[ -n ${RAPPORT_PG_BINDIR:-} ]]; then
		candidates+=("$RAPPORT_PG_BINDIR")
	fi
	# Highest major version first (sort -V understands 9.6 < 15 < 16).
	while IFS= read -r d; do
		candidates+=("$d")
	done < <(ls -d /usr/lib/postgresql/*/bin /opt/homebrew/opt/postgresql@*/bin \
		/usr/local/opt/postgresql@*/bin /usr/pgsql-*/bin 2>/dev/null | sort -V -r)
	if command -v initdb >/dev/null 2>&1; then
		d=$(dirname "$(command -v initdb)")
		# Follow symlinks (Debian's /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb).
		if command -v readlink >/dev/null 2>&1 && readlink -f / >/dev/null 2>&1; then
			d=$(dirname "$(readlink -f "$(command -v initdb)")")
		fi
		candidates+=("$d")
	fi
	for d in "${candidates[@]}"; do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

install_hint() {
	case "$(uname -s)" in
	Darwin) echo "brew install postgresql@16" ;;
	*)
		if command -v apt-get >/dev/null 2>&1; then
			echo "sudo apt-get install postgresql"
		elif command -v dnf >/dev/null 2>&1; then
			echo "sudo dnf install postgresql-server"
		else
			echo "install the PostgreSQL server (initdb, pg_ctl, postgres) with your package manager"
		fi
		;;
	esac
}

# ---------------------------------------------------------------------------
# The private cluster.

# Set by setup_private: where the cluster lives and who runs it.
BASE="" # the real directory holding data/, postgres.log (and the socket)
DATA=""
RUN_USER=""

# as_owner runs a command as the cluster's owner (root cannot run initdb).
as_owner() {
	if [[ -z $RUN_USER ]]; then
		(cd / && "$@")
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u "$RUN_USER" -- "$@")
	else
		local q
		q=$(printf '%q ' "$@")
		(cd / && su -s /bin/sh "$RUN_USER" -c "$q")
	fi
}

# choose_base decides where the cluster's files live. Normally that is
# .pgdata/ in the repository; when root must hand the cluster to a user who
# cannot reach the repository, a directory under /tmp, recorded in
# .pgdata/location so every later call finds it.
choose_base() {
	mkdir -p "$PGDATA_DIR"
	if [[ -f $PGDATA_DIR/location ]]; then
		BASE=$(cat "$PGDATA_DIR/location")
		mkdir -p "$BASE"
		return
	fi
	BASE=$PGDATA_DIR
	if [[ -n $RUN_USER ]] && ! as_owner test -x "$ROOT"; then
		BASE="/tmp/rapport-pg-$(id -u)-$(hash_of "$ROOT")"
		log "user $RUN_USER cannot traverse $ROOT (a parent directory is not o+x);"
		log "keeping the cluster in $BASE instead (recorded in .pgdata/location)"
		mkdir -p "$BASE"
		chmod 700 "$BASE"
		printf '%s\n' "$BASE" >"$PGDATA_DIR/location"
	fi
}

# choose_owner sets RUN_USER when running as root: the postgres system user
# if it exists, else a dedicated `rapport` system user (created once).
choose_owner() {
	if [[ $(id -u) -ne 0 ]]; then
		RUN_USER=""
		return
	fi
	if id postgres >/dev/null 2>&1; then
		RUN_USER=postgres
	elif id rapport >/dev/null 2>&1; then
		RUN_USER=rapport
	else
		command -v useradd >/dev/null 2>&1 ||
			die "running as root and no 'postgres' user exists; cannot create one (no useradd). Run as a normal user."
		log "running as root: creating system user 'rapport' to own the private cluster"
		useradd --system --no-create-home --shell /usr/sbin/nologin rapport >&2 ||
			die "useradd --system rapport failed"
		RUN_USER=rapport
	fi
}

# running_port prints the port a running private cluster listens on (line 4
# of postmaster.pid), or nothing. It differs from RAPPORT_PG_PORT when the
# cluster was started with another value.
running_port() {
	local base=$PGDATA_DIR
	[[ -f $PGDATA_DIR/location ]] && base=$(cat "$PGDATA_DIR/location")
	local p
	p=$(sed -n 4p "$base/data/postmaster.pid" 2>/dev/null || true)
	[[ $p =~ ^[0-9]+$ ]] && printf '%s\n' "$p"
	return 0
}

# adopt_running_port points PORT and PRIVATE_URL at the running cluster's port.
adopt_running_port() {
	local actual
	actual=$(running_port)
	if [[ -n $actual && $actual != "$PORT" ]]; then
		log "the private cluster listens on port $actual, not RAPPORT_PG_PORT=$PORT: using $actual"
		PORT=$actual
		PRIVATE_URL="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"
	fi
}

setup_private() {
	choose_owner
	choose_base
	DATA=$BASE/data
	if [[ -n $RUN_USER ]]; then
		chown -R "$RUN_USER" "$BASE"
		if [[ $BASE != "$PGDATA_DIR" ]]; then
			chown "$RUN_USER" "$PGDATA_DIR"
		fi
	fi
}

# socket_dir prints the unix-socket directory: the data directory, unless its
# path is too long for a socket address (about 107 bytes).
socket_dir() {
	local s="$DATA"
	if ((${#s} + 20 > 100)); then
		s="/tmp/rapport-pg-sock-$(hash_of "$DATA")"
		mkdir -p "$s"
		chmod 700 "$s"
		[[ -z $RUN_USER ]] || chown "$RUN_USER" "$s"
	fi
	printf '%s\n' "$s"
}

private_running() {
	[[ -n $DATA && -f $DATA/PG_VERSION ]] || return 1
	local bindir
	bindir=$(find_bindir) || return 1
	as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start_private() {
	local bindir version sock have
	if ! bindir=$(find_bindir); then
		die "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found, and nothing answers on 127.0.0.1:5432.
  Install them:  $(install_hint)
  or point DATABASE_URL (TEST_DATABASE_URL for tests) at a server you have."
	fi
	setup_private
	version=$("$bindir/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')

	if [[ ! -f $DATA/PG_VERSION ]]; then
		log "creating a private PostgreSQL $version cluster in $DATA (owner: ${RUN_USER:-$(id -un)})"
		rm -rf "$DATA"
		as_owner "$bindir/initdb" -D "$DATA" -U postgres --auth=trust \
			--encoding=UTF8 --locale=C >"$BASE/initdb.log" 2>&1 || {
			cat "$BASE/initdb.log" >&2
			die "initdb failed (log above)"
		}
	fi
	have=$(cat "$DATA/PG_VERSION")
	if [[ $have != "$version" ]]; then
		die "the private cluster in $DATA was made by PostgreSQL $have but the binaries in $bindir are $version.
  Remove it (scripts/pg.sh stop && rm -rf $DATA) to start afresh, or set RAPPORT_PG_BINDIR to version $have's bin directory."
	fi

	if as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
		return 0
	fi
	# Something else on our port (another checkout's cluster, say) would make
	# the start fail with a confusing message: say so plainly.
	if answers "$PRIVATE_URL"; then
		die "port $PORT is taken by another PostgreSQL server. Set RAPPORT_PG_PORT to a free port."
	fi
	sock=$(socket_dir)
	log "starting the private cluster on 127.0.0.1:$PORT (log: $BASE/postgres.log)"
	# Durability is traded for speed: this cluster only ever holds dev and test data.
	as_owner "$bindir/pg_ctl" -D "$DATA" -l "$BASE/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$sock \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >&2 9>&- || {
		tail -n 20 "$BASE/postgres.log" >&2 || true
		die "pg_ctl start failed (last lines of $BASE/postgres.log above)"
	}
}

stop_private() {
	local bindir
	if [[ ! -d $PGDATA_DIR ]]; then
		log "no private cluster (.pgdata/ does not exist)"
		return 0
	fi
	setup_private
	if [[ ! -f $DATA/PG_VERSION ]]; then
		log "no private cluster in $DATA"
		return 0
	fi
	bindir=$(find_bindir) || die "no pg_ctl found to stop the cluster in $DATA"
	if as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
		as_owner "$bindir/pg_ctl" -D "$DATA" -m fast -w stop >&2
	else
		log "the private cluster in $DATA is not running"
	fi
}

# with_lock runs a command holding .pgdata/lock, so that two calls at once do
# not both run initdb or pg_ctl start.
with_lock() {
	mkdir -p "$PGDATA_DIR"
	if command -v flock >/dev/null 2>&1; then
		(
			flock -w 120 9 || die "timed out waiting for $PGDATA_DIR/lock"
			# The server started inside must not inherit (and so hold) the lock.
			"$@" 9>&-
		) 9>"$PGDATA_DIR/lock"
	else
		"$@"
	fi
}

# psql_bin prints a psql to use: the one on PATH, else the server binaries'.
psql_bin() {
	if command -v psql >/dev/null 2>&1; then
		command -v psql
		return
	fi
	local d
	d=$(find_bindir) && [[ -x $d/psql ]] && printf '%s\n' "$d/psql"
}

# with_db prints url (a server URL naming database postgres) with database
# name instead, creating that database first if it does not exist.
with_db() {
	local url=$1 name=$2 psql
	[[ -n $name ]] || {
		printf '%s\n' "$url"
		return
	}
	[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "--db $name: use lower-case letters, digits and _"
	psql=$(psql_bin) || die "--db needs psql to create database $name: $(install_hint)"
	if [[ -z $("$psql" "$url" -X -A -t -q -c "select 1 from pg_database where datname = '$name'") ]]; then
		log "creating database $name"
		# Another caller may win the race: re-check rather than fail.
		"$psql" "$url" -X -q -c "create database $name" >/dev/null 2>&1 ||
			[[ -n $("$psql" "$url" -X -A -t -q -c "select 1 from pg_database where datname = '$name'") ]] ||
			die "could not create database $name"
	fi
	printf '%s\n' "${url/\/postgres\?//$name?}"
}

# resolve prints the URL to use, starting the private cluster if needed. With
# a database name, the system server's or private cluster's URL names that
# database (created if need be); URLs from the environment are used as given.
resolve() {
	local test_mode=$1 dbname=${2:-}
	if [[ ${RAPPORT_PG_FORCE_PRIVATE:-} != 1 ]]; then
		if [[ $test_mode == 1 && -n ${TEST_DATABASE_URL:-} ]]; then
			printf '%s\n' "$TEST_DATABASE_URL"
			return
		fi
		if [[ -n ${DATABASE_URL:-} ]]; then
			printf '%s\n' "$DATABASE_URL"
			return
		fi
		if answers "$SYSTEM_URL"; then
			log "using the server on 127.0.0.1:5432"
			with_db "$SYSTEM_URL" "$dbname"
			return
		fi
		log "nothing usable on 127.0.0.1:5432 (not running, or not trust auth for user postgres)"
	fi
	with_lock start_private
	adopt_running_port
	if ! answers "$PRIVATE_URL"; then
		die "the private cluster started but $PRIVATE_URL does not answer (see $PGDATA_DIR and its postgres.log)"
	fi
	log "using the private cluster on 127.0.0.1:$PORT"
	with_db "$PRIVATE_URL" "$dbname"
}

cmd=url
test_mode=0
dbname=""
while (($# > 0)); do
	case $1 in
	--test | test) test_mode=1 ;;
	--db)
		[[ $# -ge 2 ]] || die "--db needs a database name"
		dbname=$2
		shift
		;;
	--db=*) dbname=${1#--db=} ;;
	url | stop | status | reachable | bindir | help | -h | --help) cmd=$1 ;;
	psql)
		cmd=psql
		shift
		break # the rest is for psql
		;;
	*)
		log "unknown argument: $1 (try: scripts/pg.sh help)"
		exit 2
		;;
	esac
	shift
done

case "$cmd" in
url) resolve "$test_mode" "$dbname" ;;
stop) with_lock stop_private ;;
status)
	if [[ -n ${DATABASE_URL:-} && ${RAPPORT_PG_FORCE_PRIVATE:-} != 1 ]]; then
		log "DATABASE_URL is set: that server is used"
	elif [[ ${RAPPORT_PG_FORCE_PRIVATE:-} != 1 ]] && answers "$SYSTEM_URL"; then
		log "127.0.0.1:5432 answers: that server is used"
	fi
	if [[ -d $PGDATA_DIR ]]; then
		setup_private
		if private_running; then
			# The port it was started with, not necessarily today's RAPPORT_PG_PORT.
			actual=$(running_port)
			log "private cluster: running in $DATA on 127.0.0.1:${actual:-$PORT}"
			if [[ -n $actual && $actual != "$PORT" ]]; then
				log "note: RAPPORT_PG_PORT is $PORT, but the running cluster listens on $actual (used as it is); stop it (scripts/pg.sh stop) to move it"
			fi
		else
			log "private cluster: stopped ($DATA)"
		fi
	else
		log "private cluster: none"
	fi
	;;
psql)
	url=$(resolve "$test_mode" "$dbname")
	psql=$(psql_bin) || die "no psql found: $(install_hint)"
	exec "$psql" "$url" "$@"
	;;
reachable)
	if [[ ${RAPPORT_PG_FORCE_PRIVATE:-} == 1 ]]; then
		exit 1
	elif [[ -n ${DATABASE_URL:-}${TEST_DATABASE_URL:-} ]]; then
		answers "${TEST_DATABASE_URL:-$DATABASE_URL}"
	else
		answers "$SYSTEM_URL"
	fi
	;;
bindir) find_bindir ;;
-h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2 ;;
*)
	log "unknown command: $cmd (try: scripts/pg.sh help)"
	exit 2
	;;
esac
