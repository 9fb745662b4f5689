#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for stanzalink development: Debian packages,
# a virtual environment in .venv with the development tools, and stanzalink
# itself installed editable with its native module built.  Idempotent: a
# second run installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# iputils-ping: the console's ping command, which a test runs against 127.0.0.1;
# systemd, util-linux and busybox: the supervision tests run the unit under a
# real systemd in a namespace and the SysV script under BusyBox's ash;
# nodejs, polkitd, dbus: the polkit rule's test runs it the way
# polkitd's JavaScript does, then under the real polkitd on a bus of its own,
# and systemctl reboot goes through dbus, logind and polkitd in a nested systemd;
# profanity, finch, tmux and dbus-x11: tests read what profanity and finch (libpurple,
# as Pidgin) show of the console's answers; nftables: the keepalive tests drop a
# path on a namespace's loopback
DEB_PACKAGES=(gcc make python3-venv python3-dev libexpat1-dev clang llvm libclang-rt-14-dev prosody ejabberd openssl iputils-ping systemd util-linux busybox nodejs polkitd dbus profanity finch tmux dbus-x11 nftables)
# the Debian package (make deb; tests/packaging/test_deb.py): debian/control's
# Build-Depends, the standard tools, and lintian
DEB_PACKAGES+=(build-essential fakeroot dpkg-dev debhelper dh-python python3-all-dev python3-setuptools python3-cffi pybuild-plugin-pyproject lintian git)
# --bench: also the C peers that bench/c measures the tokenizer against
if [ "${1:-}" = "--bench" ]; then
    DEB_PACKAGES+=(g++ pkg-config libxml2-dev libpugixml-dev librapidxml-dev)
fi
# --screenshots: Pidgin under Xvfb and ImageMagick (scripts/screenshots.py)
if [ "${1:-}" = "--screenshots" ]; then
    DEB_PACKAGES+=(pidgin xvfb xdotool imagemagick fonts-dejavu-core)
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # the system prosody and ejabberd services are not used: the tests start their own
    for svc in prosody ejabberd; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            $SUDO systemctl stop "$svc" || true
            $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
        fi
    done
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.requirements-dev.stamp
if [ ! -f "$stamp" ] || ! cmp -s requirements-dev.txt "$stamp"; then
    .venv/bin/pip install -q --upgrade pip setuptools wheel
    .venv/bin/pip install -q -r requirements-dev.txt
    cp requirements-dev.txt "$stamp"
fi
# (re)build the package and its native module in place
.venv/bin/pip install -q --no-build-isolation -e .
.venv/bin/python -c "import stanzalink.xml as x; print('bootstrap: parser backends:', ', '.join(x.available_backends()))"
