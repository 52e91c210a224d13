# Sourced by the bench scripts: installs what a script needs from Debian's packages.

install_packages() { # package... : installed with apt-get, through sudo unless root
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null
}
