#!/usr/bin/env bash
# Creates (or reuses) the three Python environments featurebench needs, under .venvs/:
#   main   - Airflow 3, providers, pandas/pyarrow, the test tools   (requirements.txt)
#   dynamo - the Dynamo frontend + mocker + offline replay with AIConfigurator timing (GPU-free engine
#            simulator): requirements-dynamo-nodeps.txt with --no-deps, then requirements-dynamo.txt
#   aiperf - the AIPerf load generator                                (requirements-aiperf.txt)
# Each is rebuilt only when its requirements file changed, so re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v uv >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet uv
fi

# Every process imports thousands of modules (Airflow, pydantic, AIPerf's eight services): compiled at install, so
# they load from bytecode even where PYTHONDONTWRITEBYTECODE is set (this machine sets it: every Airflow task and
# AIPerf service compiled from source, a third of a `dags test`'s CPU). The flags are part of the stamp, so an
# environment installed without them is rebuilt once.
INSTALL_FLAGS="--quiet --compile-bytecode"

make_env() {  # make_env NAME REQUIREMENTS_FILE [NO_DEPS_REQUIREMENTS_FILE]
  local name=$1 req=$2 nodeps=${3:-} dir=.venvs/$1
  local stamp=$dir/.requirements.sha256 want
  want=$( (cat "$req" ${nodeps:+"$nodeps"}; echo "$INSTALL_FLAGS") | sha256sum | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "setup: installing the $name environment ($req)"
  rm -rf "$dir"  # a clean environment: nothing left over from an earlier requirements set
  uv venv --quiet --python "$PYTHON" "$dir"
  if [ -n "$nodeps" ]; then
    uv pip install $INSTALL_FLAGS --python "$dir/bin/python" --no-deps -r "$nodeps"
  fi
  uv pip install $INSTALL_FLAGS --python "$dir/bin/python" -r "$req"
  echo "$want" > "$stamp"
}

make_env main requirements.txt
make_env dynamo requirements-dynamo.txt requirements-dynamo-nodeps.txt
make_env aiperf requirements-aiperf.txt

# The package itself (pyproject.toml), editable: the `featurebench` command, and plugins/ on the path as Airflow
# has it. Re-installed only when pyproject.toml changed (or the install points at another checkout).
stamp=.venvs/main/.featurebench.sha256
want=$( (cat pyproject.toml; echo "$PWD") | sha256sum | cut -d' ' -f1)
if [ ! -x .venvs/main/bin/featurebench ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing featurebench (editable) into the main environment"
  site=$(.venvs/main/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -f "$site/featurebench-plugins.pth"  # the path file earlier set-ups wrote by hand
  uv pip install --quiet --python .venvs/main/bin/python --no-deps -e .
  echo "$want" > "$stamp"
fi

# Our own modules too (compileall skips what is up to date; a stale .pyc is ignored by the importer).
.venvs/main/bin/python -m compileall -q -j 0 plugins dags docker/aiperf >/dev/null

# The report test renders report.html in headless chromium, and the UI test drives Debian's chromium with
# Playwright (requirements.txt; Playwright's own browser download is never used). Installed when we can;
# without it those tests are skipped and say why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium (headless report rendering test)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The load-image test builds docker/aiperf with podman (runc, not crun: crun fails on hybrid cgroups) on a base
# made by debootstrap (tests/podman_image.py). Installed when we can; without them that test is skipped and says why.
missing=""
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing$missing (load image build test)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
