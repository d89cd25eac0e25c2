# Sourced: `ensure_tools` installs the Python-packaged tools (cargo-lambda, moto, aiosmtpd,
# cfn-lint, openpyxl, schemathesis) when one is missing, and cargo-nextest when asked.

ensure_tools() {
    local missing=0
    for tool in cargo-lambda moto_server aiosmtpd cfn-lint schemathesis; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    python3 -c 'import openpyxl' 2>/dev/null || missing=1
    if [ "$missing" = 1 ]; then
        echo "Installing development tools from requirements-dev.txt" >&2
        python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
        hash -r
    fi
}

ensure_nextest() {
    command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
}
