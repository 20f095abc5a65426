#!/usr/bin/env bash
# Installs and starts what the test suites and benchmarks drive for real, so that `npm test` on a fresh
# machine runs every suite instead of skipping some.
#
#   scripts/test-setup.sh                     everything: the base packages below, every `# apt:` line of
#                                             scripts/services/*.sh, then each of those scripts (starts its service)
#   scripts/test-setup.sh --apt P... [--service S...]
#                                             only the named Debian packages and services (benchmarks use this)
#   scripts/test-setup.sh --print-packages    the package list, one a line, and nothing else
#
# Missing Debian packages are installed with apt-get (one `apt-get update` per run) when running as root.
# Otherwise the runner stops before any test runs, naming the packages and the command that installs them.
# With CATAPULT_TEST_QUICK=1 it installs nothing and does not stop: it says what is missing, and the suites
# that need it are skipped with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suites drive directly (the services' packages come from their scripts' `# apt:` lines):
# pg_isready, wrk and nginx for the gateway and benchmarks, speech for ASR evaluations, Chromium for the console.
BASE_PACKAGES=(postgresql-client wrk nginx espeak-ng sox pocketsphinx pocketsphinx-en-us chromium)

quick=false
case "${CATAPULT_TEST_QUICK:-}" in 1 | true | yes) quick=true ;; esac

say() { printf 'test-setup: %s\n' "$*" >&2; }

packages=()
services=()
print_only=false
selected=false
apt_line() { sed -n 's/^# apt:[[:space:]]*//p' "$1" | head -n1; }
mode=''
for arg in "$@"; do
  case "$arg" in
    --apt) mode=apt; selected=true ;;
    --service) mode=service; selected=true ;;
    --print-packages) print_only=true ;;
    -*) say "unknown option $arg (see the header of $0)"; exit 2 ;;
    *)
      case "$mode" in
        apt) packages+=("$arg") ;;
        service)
          [ -f "scripts/services/$arg.sh" ] || { say "no service script scripts/services/$arg.sh"; exit 2; }
          services+=("$arg")
          # shellcheck disable=SC2207 # the line is a space-separated package list
          packages+=($(apt_line "scripts/services/$arg.sh"))
          ;;
        *) say "$arg: say --apt or --service before it"; exit 2 ;;
      esac
      ;;
  esac
done
if ! $selected; then
  packages=("${BASE_PACKAGES[@]}")
  for script in scripts/services/*.sh; do
    [ -e "$script" ] || continue
    services+=("$(basename "$script" .sh)")
    # shellcheck disable=SC2207
    packages+=($(apt_line "$script"))
  done
fi

# Deduplicate, keeping order.
declare -A seen=()
unique=()
for p in "${packages[@]}"; do
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  unique+=("$p")
done

if $print_only; then
  printf '%s\n' "${unique[@]}"
  exit 0
fi

missing=()
for p in "${unique[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if $quick; then
    say "CATAPULT_TEST_QUICK=1: not installing ${missing[*]}; the suites that need them will be skipped"
  elif ! command -v apt-get >/dev/null 2>&1; then
    say "missing Debian packages: ${missing[*]}"
    say "this machine has no apt-get; install the equivalents of: $install_cmd"
    $selected || say "or run the quick tests, which skip what needs them: npm test -- --quick"
    exit 1
  elif [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "installing them needs root; run: sudo sh -c '$install_cmd'"
    $selected || say "or run the quick tests, which skip what needs them: npm test -- --quick"
    exit 1
  else
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Waits for another apt-get (a second checkout's tests, unattended upgrades) instead of failing.
    apt_opts=(-o DPkg::Lock::Timeout=600)
    apt-get "${apt_opts[@]}" update -qq
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

failed=()
for s in "${services[@]}"; do
  if ! bash "scripts/services/$s.sh"; then
    failed+=("$s")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  if $quick; then
    say "CATAPULT_TEST_QUICK=1: could not start ${failed[*]}; the suites that need them will be skipped"
  else
    say "could not start: ${failed[*]} (see the messages above; each is scripts/services/NAME.sh)"
    exit 1
  fi
fi
exit 0
