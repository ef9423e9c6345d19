# Shared by scripts/run and scripts/test: install what a fresh machine lacks (each step checks
# first, so a machine that has everything moves on at once) and build the site.
# Nothing here downloads binaries from outside crates.io, npm and Debian.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_rust_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want=$(wasm_bindgen_version)
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $want"; then
    step "Installing wasm-bindgen-cli $want (about 5 minutes, once)"
    cargo install wasm-bindgen-cli --version "=$want"
  fi
}

# npm packages: Playwright (the test runner; it uses Debian's Chromium, never its own download)
# and binaryen (wasm-opt for release builds).
ensure_npm_packages() {
  if [ ! -f end2end/node_modules/.package-lock.json ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    step "Installing npm packages in end2end/"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Installs Debian packages that are missing (as root, or tells what to install).
ensure_debian_packages() {
  local missing=()
  local pkg cmd
  while [ $# -gt 0 ]; do
    pkg=$1 cmd=$2
    shift 2
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}"
}

# Installs Debian packages as root, or says what to install.
apt_install() {
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    step "Installing Debian packages: $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "Please install: $* (e.g. sudo apt-get install $*)" >&2
    exit 1
  fi
}

# promtool, Prometheus's own checker, for the /metrics test: Debian ships it in the
# `prometheus` package, which is unpacked into target/tools rather than installed (installing it
# would set up and start a Prometheus server). Sets PROMTOOL.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    export PROMTOOL=promtool
    return 0
  fi
  local tools=$ROOT/target/tools
  if [ ! -x "$tools/prometheus/usr/bin/promtool" ]; then
    step "Fetching promtool (Debian's prometheus package, unpacked into target/tools)"
    mkdir -p "$tools/prometheus"
    (
      cd "$tools"
      rm -f prometheus_*.deb
      if ! apt-get download prometheus >/dev/null 2>&1; then
        [ "$(id -u)" -eq 0 ] && apt-get update -qq
        apt-get download prometheus >/dev/null
      fi
      dpkg-deb -x prometheus_*.deb prometheus
      rm -f prometheus_*.deb
    )
  fi
  export PROMTOOL=$tools/prometheus/usr/bin/promtool
}

# Builds the browser bundle into target/site: $1 is "release" (small, optimised) or "debug".
# The files go to target/site/pkg/<hash>/ (named by their content, so browsers may keep them
# for a year) with brotli and gzip copies made once here; target/site/pkg/current names the
# folder. When the WASM, the stylesheet and the public files are what the last build saw, the
# bindings, optimisation and compression are skipped (a second `scripts/run` starts in seconds).
build_site() {
  local profile=$1 out=target/site dir
  # Three bundles from one crate: the people's pages' (`loaner`), the admin pages'
  # (`loaner_admin`, the `admin` feature) and the pool and machine editors' (`loaner_inventory`),
  # so a borrower downloads no admin code and no page downloads another's.
  local cargo_args=(--locked -p frontend --target wasm32-unknown-unknown)
  if [ "$profile" = release ]; then
    step "Building the browser bundles (WASM, size-optimised)"
    cargo_args+=(--profile wasm-release)
    dir=target/wasm32-unknown-unknown/wasm-release
  else
    step "Building the browser bundles (WASM, debug)"
    dir=target/wasm32-unknown-unknown/debug
  fi
  cargo build "${cargo_args[@]}" --features admin
  cp "$dir/frontend.wasm" "$dir/loaner_admin.wasm"
  cargo build "${cargo_args[@]}" --features inventory
  cp "$dir/frontend.wasm" "$dir/loaner_inventory.wasm"
  cargo build "${cargo_args[@]}"
  cp "$dir/frontend.wasm" "$dir/loaner.wasm"
  local stamp
  stamp=$( { echo "$profile $(wasm_bindgen_version)"; sha256sum "$dir"/loaner*.wasm style/main.css scripts/common.sh;
             find public -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-64)
  if [ -f "$out/pkg/current" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] \
     && [ -d "$out/pkg/$(cat "$out/pkg/current")" ]; then
    echo "The browser bundle is current ($out/pkg/$(cat "$out/pkg/current"))" >&2
    return 0
  fi
  local tmp=$out/pkg.new
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local name
  for name in loaner loaner_admin loaner_inventory; do
    wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name "$name" "$dir/$name.wasm"
    if [ "$profile" = release ]; then
      local wasm_opt=end2end/node_modules/.bin/wasm-opt
      if [ -x "$wasm_opt" ]; then
        "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
          "$tmp/${name}_bg.wasm" -o "$tmp/${name}_bg.wasm"
      else
        echo "wasm-opt not found (run: cd end2end && npm ci); the bundle stays unoptimised" >&2
      fi
    fi
  done
  cp style/main.css "$tmp/loaner.css"
  local hash
  hash=$(cd "$tmp" && sha256sum ./*.js ./*.wasm loaner.css | sha256sum | cut -c1-16)
  # Compressed once, at the highest settings, instead of on every request.
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    for (const file of process.argv.slice(1)) {
      const data = fs.readFileSync(file);
      fs.writeFileSync(file + ".br", zlib.brotliCompressSync(data, { params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
      fs.writeFileSync(file + ".gz", zlib.gzipSync(data, { level: 9 }));
    }' "$tmp"/*.js "$tmp"/*.wasm "$tmp/loaner.css"
  rm -rf "$out/pkg"
  mkdir -p "$out/pkg"
  mv "$tmp" "$out/pkg/$hash"
  # An unhashed stylesheet for the few pages rendered without the page shell (refusals).
  cp "$out/pkg/$hash/loaner.css" "$out/pkg/$hash/loaner.css.br" "$out/pkg/$hash/loaner.css.gz" "$out/pkg/" 2>/dev/null
  echo "$hash" > "$out/pkg/current"
  cp -R public/. "$out/"
  echo "$stamp" > "$out/.stamp"
}

# PostgreSQL's server programs (initdb, pg_ctl) for the private database, unless a database
# URL is configured: installed with apt when missing (as root), as loaner serve looks for them.
ensure_postgres_programs() {
  [ -n "${LOANER_DATABASE_URL:-}${DATABASE_URL:-}" ] && return 0
  local dir
  for dir in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin /usr/pgsql-*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  apt_install postgresql
}

# Stops a private PostgreSQL left running under $1 (a data folder of the private-cluster kind).
stop_private_pg() {
  local pgdata=$1/pg
  [ -f "$pgdata/postmaster.pid" ] || return 0
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$bindir/pg_ctl" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  else
    "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}

# The tests' Python peers in a virtualenv under target/: the SMTP server (PyPI aiosmtpd), the
# EC2-compatible endpoint (PyPI moto's server), and the OpenAPI document's validator.
ensure_smtp_sink() {
  local venv="$ROOT/target/venv"
  if ! "$venv/bin/python" -c 'import aiosmtpd, moto.server, openapi_spec_validator' 2>/dev/null; then
    step "Installing aiosmtpd (SMTP), moto (EC2 API) and openapi-spec-validator, the tests' peers, in target/venv"
    if [ ! -x "$venv/bin/python" ]; then
      rm -rf "$venv"
      if ! python3 -m venv "$venv" 2>/dev/null; then
        apt_install python3-venv
        python3 -m venv "$venv"
      fi
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' 'moto[server]==5.2.5' \
      'openapi-spec-validator==0.7.2'
  fi
  export SMTP_SINK_PYTHON="$venv/bin/python"
}

# The hardware drivers' tools, which the tests also run as peers: ssh/sshd, ipmitool/ipmi_sim,
# snmpget/snmpd (Debian packages).
DRIVER_PACKAGES=(openssh-client ssh openssh-server sshd ipmitool ipmitool openipmi ipmi_sim snmp snmpget snmpd snmpd)

# Stops the peers the Rust tests share, which the first test that needs one starts and later tests
# reuse: the OpenID Connect provider (common/oidc.rs, target/test-oidc/) and the hardware peers
# (common/peers.rs, target/test-peers/: sshd, ipmi_sim, snmpd, moto).
stop_test_providers() {
  local dir="$ROOT/target/test-oidc" pid
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && ps -p "$pid" -o args= 2>/dev/null | grep -q 'oidc/provider\.mjs'; then
    kill "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir/pid" "$dir/port" "$dir/script" "$dir/clients" "$dir/accounts"
  # The driver peers (server/tests/integration/common/peers.rs), each in its own process group.
  local peers="$ROOT/target/test-peers"
  for pid in $(cat "$peers/pids" 2>/dev/null); do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$peers/pids" "$peers/ports"
}
