#!/usr/bin/env bash
# A real single-node SLURM cluster with accounting, for the tests: munge, MariaDB, slurmdbd,
# slurmctld and slurmd, all started by hand (no systemd) with their PIDs recorded.
#   cluster.sh start DIR   writes DIR/slurm.conf and DIR/pids, exits 0 when jobs can run
#   cluster.sh stop DIR    stops exactly the daemons listed in DIR/pids
#   cluster.sh clear-stale DIR   removes the default-location link if a dead test cluster left it
# Exit code 77 from start means "cannot run here" (with the reason on stderr).
# CLUSTER_CONF_LINK moves the default location (/etc/slurm/slurm.conf), for the tests of this script.
set -euo pipefail
cmd=${1:?start, stop or clear-stale}
dir=$(realpath -m "${2:?state folder}")
pids="$dir/pids"
link=${CLUSTER_CONF_LINK:-/etc/slurm/slurm.conf}

skip() { echo "cluster.sh: $*" >&2; exit 77; }

stop() {
  [ -f "$pids" ] || return 0
  # Reverse order of start; only the PIDs this script started.
  tac "$pids" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "stopped $name ($pid)"
    fi
  done
  rm -f "$pids"
  # Remove the default-location link to our slurm.conf, only if it is ours.
  if [ "$(readlink "$link" 2>/dev/null)" = "$dir/slurm.conf" ]; then
    rm -f "$link" && echo "removed $link link"
  fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "cluster.sh: $what did not come up" >&2
  for f in "$dir"/*.log; do echo "== $f" >&2; tail -20 "$f" >&2; done
  return 1
}

left_by_dead_test_cluster() {
  # True when the default-location link points to a test cluster's slurm.conf (ours: cluster
  # "pooltest", with a pids file beside it) none of whose daemons is still running.
  local conf other
  conf=$(readlink "$link") || return 1
  other=$(dirname "$conf")
  grep -qx "ClusterName=pooltest" "$conf" 2>/dev/null && [ -f "$other/pids" ] || return 1
  while read -r name pid; do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && return 1
  done < "$other/pids"
  return 0
}

clear_stale() {
  if [ -L "$link" ] && { [ ! -e "$link" ] || left_by_dead_test_cluster; }; then
    rm -f "$link" && echo "removed $link: left by an earlier, interrupted test"
  fi
  return 0
}

start() {
  [ "$(id -u)" = 0 ] || skip "needs root to start munge, MariaDB and SLURM daemons"
  for bin in munged mariadbd slurmdbd slurmctld slurmd sacctmgr sbatch sacct; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || skip "$bin is not installed (tests/system_deps.sh installs it)"
  done
  export PATH="/usr/sbin:$PATH"
  # Jobs' inner srun (snakemake-executor-plugin-slurm-jobstep) drops SLURM_CONF from its
  # environment, so the config must also sit at the default path: a link we remove on stop.
  clear_stale
  if [ -e "$link" ] && [ "$(readlink "$link")" != "$dir/slurm.conf" ]; then
    skip "$link exists (a real cluster's?); not replacing it"
  fi
  mkdir -p "$dir"/{spool,state,mysql}
  : > "$pids"
  trap 'stop' ERR

  # munge: a fresh key for this cluster only.
  mkdir -p /run/munge "$dir/munge"
  chown munge:munge /run/munge "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
  runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket=/run/munge/munge.socket.2 \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force
  wait_for 10 munged test -s "$dir/munge/munged.pid"
  echo "munged $(cat "$dir/munge/munged.pid")" >> "$pids"

  # MariaDB on a socket only, with its own data folder.
  chown mysql:mysql "$dir/mysql"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  mariadb-install-db --user=mysql --datadir="$dir/mysql" --auth-root-authentication-method=socket >"$dir/mariadb-install.log" 2>&1
  mariadbd --user=mysql --datadir="$dir/mysql" --skip-networking --socket=/run/mysqld/mysqld.sock \
    --pid-file="$dir/mysql/mariadb.pid" >"$dir/mariadb.log" 2>&1 &
  echo "mariadbd $!" >> "$pids"
  wait_for 30 MariaDB mariadb --socket=/run/mysqld/mysqld.sock -e "SELECT 1"
  mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmtest';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

  local mem cpus
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 2048 ))
  cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=/run/munge/munge.socket.2
DbdHost=localhost
DbdPort=16819
SlurmUser=root
LogFile=$dir/slurmdbd.log
PidFile=$dir/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmtest
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$dir/slurmdbd.conf"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=pooltest
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=/run/munge/munge.socket.2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=86400
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=16819
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  mkdir -p "$(dirname "$link")" && ln -sfn "$dir/slurm.conf" "$link"

  slurmdbd -D >"$dir/slurmdbd.out" 2>&1 &
  echo "slurmdbd $!" >> "$pids"
  wait_for 30 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster pooltest >/dev/null
  sacctmgr -i add account pooltest Cluster=pooltest Description=tests Organization=tests >/dev/null
  sacctmgr -i add user root Account=pooltest Cluster=pooltest >/dev/null

  slurmctld -D >"$dir/slurmctld.out" 2>&1 &
  echo "slurmctld $!" >> "$pids"
  wait_for 30 slurmctld scontrol ping
  slurmd -D -N localhost >"$dir/slurmd.out" 2>&1 &
  echo "slurmd $!" >> "$pids"
  wait_for 60 "an idle node" bash -c "sinfo -h -o %t | grep -qE '^idle'"
  trap - ERR
  echo "cluster up: SLURM_CONF=$dir/slurm.conf"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  clear-stale) clear_stale ;;
  *) echo "usage: $0 start|stop|clear-stale DIR" >&2; exit 2 ;;
esac
