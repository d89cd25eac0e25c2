# Sourced: `ensure_tools` puts the Python-packaged tools (cargo-lambda, moto, aiosmtpd, cfn-lint,
# openpyxl, schemathesis, pyotp, and Node.js with npm for the typed-client test; pinned in
# requirements-dev.txt) into the project virtualenv `.venv/` and that virtualenv first on PATH;
# `ensure_nextest` installs cargo-nextest; `ensure_chromium` headless Chromium where it can.
#
# The system interpreter is never written to: current Debian and Ubuntu refuse it (PEP 668).
# `.venv/` is rebuilt when requirements-dev.txt changes, and is ignored by git.

VENV_DIR="${VENV_DIR:-$PWD/.venv}"

_venv_python_ok() { [ -x "$VENV_DIR/bin/python" ] && "$VENV_DIR/bin/python" -m pip --version >/dev/null 2>&1; }

# A virtualenv with pip in it, from whatever the machine's Python 3 offers.
_make_venv() {
    local python
    python=$(command -v python3) || { echo "Python 3 is needed (python3 not found)." >&2; return 1; }
    rm -rf "$VENV_DIR"
    "$python" -m venv "$VENV_DIR" >/dev/null 2>&1 && _venv_python_ok && return 0
    # Debian/Ubuntu without python3-venv have no ensurepip: make the environment without pip and
    # let the system's pip (if any) install pip into it; a virtualenv is not externally managed.
    rm -rf "$VENV_DIR"
    if "$python" -m venv --without-pip "$VENV_DIR" >/dev/null 2>&1 \
        && "$python" -m pip --python "$VENV_DIR/bin/python" install --quiet \
            --disable-pip-version-check pip >/dev/null 2>&1 && _venv_python_ok; then
        return 0
    fi
    rm -rf "$VENV_DIR"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        local minor
        minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        echo "Installing python3-venv with apt-get" >&2
        { apt-get update -qq && apt-get install -y -qq "python$minor-venv" || apt-get install -y -qq python3-venv; } >/dev/null
        "$python" -m venv "$VENV_DIR" >/dev/null && _venv_python_ok && return 0
    fi
    echo "Cannot create a Python virtualenv: install your system's venv package (Debian/Ubuntu: sudo apt-get install python3-venv)." >&2
    return 1
}

ensure_tools() {
    local stamp="$VENV_DIR/.requirements-dev.txt"
    if ! _venv_python_ok || ! cmp -s requirements-dev.txt "$stamp"; then
        _venv_python_ok || _make_venv || return 1
        echo "Installing development tools from requirements-dev.txt into .venv/" >&2
        "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r requirements-dev.txt >&2 || return 1
        cp requirements-dev.txt "$stamp"
    fi
    # The tests and scripts call these tools by name (python3 included, for openpyxl and pyotp).
    export VIRTUAL_ENV="$VENV_DIR"
    export PATH="$VENV_DIR/bin:$PATH"
    hash -r
}

# `ensure_chromium`: the browser test (a page on http://localhost:3000 receiving realtime
# updates) runs headless Chromium. Installed with apt-get when missing and run as root; otherwise
# that one test says it is skipped (CHROMIUM names another binary).
ensure_chromium() {
    local candidate
    for candidate in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
        [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && return 0
    done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Chromium with apt-get (for the realtime browser test)" >&2
        { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 && return 0
    fi
    echo "No Chromium here: the realtime browser test is skipped (apt-get install chromium)." >&2
}

ensure_nextest() {
    command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
}

# `function_packages`: `-p NAME` for every function crate (functions/*), to build just the
# function binaries (not the bench or the openapi tool).
function_packages() {
    local manifest
    for manifest in functions/*/Cargo.toml; do
        printf -- '-p %s ' "$(basename "$(dirname "$manifest")")"
    done
}
