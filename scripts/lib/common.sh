# Shared by scripts/demo and scripts/test: find Python 3.11+, create .venv, install the project.
# Re-installs only when a pyproject.toml changed, so repeated runs start in seconds.

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "farmctl needs Python 3.11 or newer; install it and run this again." >&2
  return 1
}

ensure_venv() {
  local extras="$1" python stamp wanted
  if [ ! -x .venv/bin/python ]; then
    python=$(pick_python) || exit 1
    echo "Creating .venv with $python ..." >&2
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
  fi
  stamp=.venv/.farmctl-installed
  wanted="$extras $(cat pyproject.toml hardware-sim/pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing farmctl and the printer simulator into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
      -e ./hardware-sim -e ".[$extras]" >&2
    echo "$wanted" >"$stamp"
  fi
}

# mypy cannot follow setuptools' editable import hook, and drivers/ and config/ are installed
# under farmctl/ (package-dir mapping). Give it the installed layout as a tree of symlinks, with
# bench/ and the tests/ it imports (tests.support) beside it, so bench is checked against the real
# farmctl.drivers (from the repository root, `mypy bench` sees farmctl/ without its drivers: Any).
typecheck_tree() {
  local tree=build/typecheck/farmctl entry
  rm -rf build/typecheck
  mkdir -p "$tree"
  for entry in farmctl/*; do ln -s "../../../$entry" "$tree/"; done
  ln -s ../../../drivers "$tree/drivers"
  ln -s ../../../config "$tree/defaults"
  ln -s ../../bench build/typecheck/bench
  ln -s ../../tests build/typecheck/tests
  echo build/typecheck
}
