#!/usr/bin/env bash
# The one installer of Debian packages (scripts/packages.list says which, per group).
#   bash scripts/packages.sh install [group...]   installs what is missing (root; one apt-get update first)
#   bash scripts/packages.sh check [group...]     exit 1 and name each missing package (changes nothing)
#   bash scripts/packages.sh list [group...]      the package names, one per line
# No group means every group. A package counts as present when its probe (a command, or a path) exists.
set -euo pipefail
# MLOPS_PACKAGES_LIST replaces the list (the unit tests use one of their own).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIST="${MLOPS_PACKAGES_LIST:-$HERE/packages.list}"
LOG_TAG=packages
# shellcheck source=common.sh
source "$HERE/common.sh"

# The list's rows without comments and blank lines.
entries() { grep -vE '^\s*(#|$)' "$LIST"; }

# "<group> <package> <probe>" rows of the requested groups.
rows() {
  local wanted=" $* "
  entries | while read -r group package probe; do
    if [ $# = 0 ] || [[ "$wanted" == *" $group "* ]]; then echo "$group $package $probe"; fi
  done
}

present() {
  local probe=$1
  if [[ "$probe" == /* ]]; then compgen -G "$probe" >/dev/null; else command -v "$probe" >/dev/null 2>&1; fi
}

missing() {
  local group package probe
  rows "$@" | while read -r group package probe; do present "$probe" || echo "$package"; done
}

validate_groups() {
  local group known
  known=" $(entries | awk '{print $1}' | sort -u | tr '\n' ' ')"
  for group in "$@"; do [[ "$known" == *" $group "* ]] || die "unknown group '$group' (scripts/packages.list has:$known)"; done
}

action=${1:-}
[ $# -gt 0 ] && shift
validate_groups "$@"
case "$action" in
  list) rows "$@" | awk '{print $2}' ;;
  check)
    mapfile -t absent < <(missing "$@")
    [ "${#absent[@]}" = 0 ] || die "missing Debian packages: ${absent[*]} (install: bash scripts/packages.sh install${*:+ $*})"
    ;;
  install)
    mapfile -t absent < <(missing "$@")
    [ "${#absent[@]}" = 0 ] && exit 0
    [ "$(id -u)" = 0 ] || die "missing Debian packages ${absent[*]}: run as root, or apt-get install them"
    started=$SECONDS
    log "installing ${absent[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${absent[@]}" >&2 || die "apt-get install ${absent[*]} failed"
    # A package whose probe is still absent is a wrong row in packages.list, not a passing install.
    mapfile -t still < <(missing "$@")
    [ "${#still[@]}" = 0 ] || die "installed, but their probes are still absent (fix scripts/packages.list): ${still[*]}"
    log "installed ${#absent[@]} package(s) in $((SECONDS - started))s"
    ;;
  *) echo "usage: bash scripts/packages.sh install|check|list [group...]" >&2; exit 2 ;;
esac
