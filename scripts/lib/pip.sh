# Sourced by the scripts that use tools from PyPI.

# Installs `package` at exactly `version` unless it is there already.
pip_install_pinned() {
  local package=$1 version=$2 installed
  installed="$(python3 -m pip show "$package" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [[ "$installed" != "$version" ]]; then
    echo "installing ${package} ${version} (PyPI)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${package}==${version}" >&2
  fi
}

# Where pip put the console script `name`.
pip_script() {
  python3 -c 'import os, sys, sysconfig; print(os.path.join(sysconfig.get_path("scripts"), sys.argv[1]))' "$1"
}
