# Sourced by the benchmark scripts: PGURL (default
# postgres://postgres@127.0.0.1:5432) split into host, port and user for
# psql and pgbench; psqlc runs psql on the maintenance database; fresh NAME
# drops and recreates a scratch database.
pg=${PGURL:-postgres://postgres@127.0.0.1:5432}
host=$(echo "$pg" | sed -E 's#^postgres(ql)?://([^@]*@)?([^:/]+).*#\3#')
port=$(echo "$pg" | sed -E 's#^postgres(ql)?://([^@]*@)?[^:/]+:?([0-9]*).*#\3#'); port=${port:-5432}
user=$(echo "$pg" | sed -E 's#^postgres(ql)?://([^:@]*).*@.*#\2#'); user=${user:-postgres}
psqlc() { psql -q -h "$host" -p "$port" -U "$user" -d postgres -v ON_ERROR_STOP=1 "$@"; }
fresh() { psqlc -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null 2>&1; }
