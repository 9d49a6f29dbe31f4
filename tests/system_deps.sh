#!/usr/bin/env bash
# Installs the system packages some tests need (Debian's apt, as root): chromium for the
# report test, a SLURM cluster (slurmctld, slurmd, slurmdbd, munge, MariaDB) for the
# cluster test. Where that is impossible it says why; those tests then skip with the reason.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
for pair in slurmctld:slurmctld slurmd:slurmd slurmdbd:slurmdbd sbatch:slurm-client munged:munge mariadbd:mariadb-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "system_deps: chromium and SLURM are installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system_deps: not root, cannot install ${need[*]}; the browser and SLURM tests will be skipped"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: no apt-get, cannot install ${need[*]}; the browser and SLURM tests will be skipped"
  exit 0
fi
echo "system_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Daemons are started by the tests themselves, never by the package scripts: a temporary
# policy-rc.d (removed again if we made it) stops apt from starting them.
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
if ! { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }; then
  echo "system_deps: apt-get install failed; the browser and SLURM tests will be skipped"
fi
[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
exit 0
