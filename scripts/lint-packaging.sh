#!/usr/bin/env bash
# Lint the packaging: the Yocto recipe with oelint-adv (offline), the
# systemd unit with systemd-analyze where it is installed, the SysV script
# with sh -n.  Exits non-zero on any finding that is not suppressed here.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/pip" install -q oelint-adv==9.11.2

# Suppressed oelint rules, each with its reason:
#  oelint.vars.homepageping   - CI is offline, and the project has no public address yet
#  oelint.vars.autorev        - the layer tracks main; a product pins SRCREV in a .bbappend
#  oelint.var.bbclassextend   - a native or nativesdk build of a device agent has no use
SUPPRESS=(--suppress oelint.vars.homepageping --suppress oelint.vars.autorev
          --suppress oelint.var.bbclassextend)
status=0
for release in scarthgap wrynose; do
    out=$("$VENV/bin/oelint-adv" --quiet --release "$release" "${SUPPRESS[@]}" \
          recipes/recipes-*/*/*.bb 2>&1 || true)
    if [ -n "$out" ]; then
        echo "oelint-adv ($release):"; echo "$out"; status=1
    else
        echo "oelint-adv ($release): clean"
    fi
done

for script in packaging/S90stanzalink packaging/request-reboot; do
    sh -n "$script" && echo "$script: syntax ok"
    # BusyBox images run it with ash
    if command -v busybox >/dev/null; then
        busybox sh -n "$script" && echo "$script: syntax ok (busybox ash)"
    fi
done
# the polkit rule parses (tests/packaging/test_polkit_rule.py exercises it)
if command -v node >/dev/null; then
    if node -e 'new Function(require("fs").readFileSync(process.argv[1], "utf8"))' \
        packaging/10-stanzalink.rules; then
        echo "10-stanzalink.rules: syntax ok"
    else
        status=1
    fi
fi

# the wheel matrix for a CI provider with Docker: CPython 3.11-3.14, x86_64,
# aarch64, armv7l, manylinux and musllinux
"$VENV/bin/pip" install -q cibuildwheel==4.3.5
ids=$("$VENV/bin/cibuildwheel" --print-build-identifiers --platform linux)
echo "cibuildwheel: $(echo "$ids" | wc -l) wheels"
for want in cp311-manylinux_aarch64 cp314-musllinux_armv7l cp311-manylinux_x86_64; do
    echo "$ids" | grep -qx "$want" || { echo "cibuildwheel: $want missing"; status=1; }
done

if command -v systemd-analyze >/dev/null; then
    tmp=$(mktemp -d)
    # verify needs the binary to exist: check a copy that points at one that does
    sed "s,/usr/bin/stanzalink,/bin/true,g" packaging/stanzalink.service > "$tmp/stanzalink.service"
    # and the man page its Documentation= names, where man(1) finds it
    mkdir -p "$tmp/man/man1" && cp debian/stanzalink.1 "$tmp/man/man1/"
    if ! MANPATH="$tmp/man" systemd-analyze verify "$tmp/stanzalink.service"; then status=1; fi
    score=$(systemd-analyze security --offline=true "$tmp/stanzalink.service" 2>/dev/null | tail -1)
    echo "systemd-analyze security: $score"
    # at most 1.8 (tests/packaging/test_systemd_unit.py checks it too)
    echo "$score" | grep -Eq ': (0\.[0-9]|1\.[0-8]) ' || status=1
    rm -rf "$tmp"
fi
exit $status
