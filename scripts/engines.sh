#!/usr/bin/env bash
# Issue 12: the store conformance suite and the black-box API suite on PostgreSQL and on MariaDB
# (SQLite already ran both in the plain `cargo test --workspace`), and with them the cluster
# suites (tests/api/cluster.rs, cluster_rooms.rs, failover.rs): three `liar` processes on one
# database and a Redis server the test starts and kills; nodes killed, paused and restarted.
# Starts the local servers when they are down, installing them first on a machine that has none.
# Each test creates a database of its own on the server and drops it afterwards
# (crates/liar-server/tests/common/testdb.rs).
#
# Override the servers with LIAR_TEST_POSTGRES_URL / LIAR_TEST_MYSQL_URL (a URL whose database
# is only used to create and drop the tests' own).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf -- '-- %s\n' "$*"; }

wait_for() { # wait_for <what> <command…>: up to 60 s
  local what=$1
  shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$what did not come up" >&2
  return 1
}

install_missing() {
  local missing=()
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql postgresql-client)
  [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server mariadb-client)
  # The cluster tests (tests/api/cluster.rs) start Redis servers of their own.
  command -v redis-server >/dev/null || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

start_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
}

start_mariadb() {
  if ! mysqladmin --protocol=tcp -h 127.0.0.1 -uroot ping >/dev/null 2>&1 \
    && ! mysqladmin ping >/dev/null 2>&1; then
    say "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  wait_for MariaDB sh -c 'mysqladmin --protocol=tcp -h 127.0.0.1 -uroot ping || mysqladmin ping'
}

# The URLs the tests use: password-less superusers over TCP where the servers allow it (as set
# up on the project's machines); otherwise a password is set for them once, through the local
# socket.
postgres_url() {
  if [ -n "${LIAR_TEST_POSTGRES_URL:-}" ]; then
    echo "$LIAR_TEST_POSTGRES_URL"
  elif psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' </dev/null >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:5432/postgres"
  else
    runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'liar-ci'" >/dev/null
    echo "postgres://postgres:liar-ci@127.0.0.1:5432/postgres"
  fi
}

mysql_url() {
  if [ -n "${LIAR_TEST_MYSQL_URL:-}" ]; then
    echo "$LIAR_TEST_MYSQL_URL"
  elif mysql --protocol=tcp -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    echo "mysql://root@127.0.0.1:3306"
  else
    mysql -e "CREATE USER IF NOT EXISTS 'liar_ci'@'%' IDENTIFIED BY 'liar-ci'; \
              GRANT ALL ON *.* TO 'liar_ci'@'%'" >/dev/null
    echo "mysql://liar_ci:liar-ci@127.0.0.1:3306"
  fi
}

install_missing
start_postgres
start_mariadb
export LIAR_TEST_POSTGRES_URL LIAR_TEST_MYSQL_URL
LIAR_TEST_POSTGRES_URL=$(postgres_url)
LIAR_TEST_MYSQL_URL=$(mysql_url)

say "store conformance suite on PostgreSQL and MariaDB"
cargo test -p liar-server --test store -- postgres:: mysql::

say "black-box API suite on PostgreSQL"
LIAR_TEST_DATABASE_URL=$LIAR_TEST_POSTGRES_URL cargo test -p liar-server --test api

say "black-box API suite on MariaDB"
LIAR_TEST_DATABASE_URL=$LIAR_TEST_MYSQL_URL cargo test -p liar-server --test api
